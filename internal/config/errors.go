package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one configuration problem, located in its source file.
// It prints as "floodgate.yaml:42: routes[3].upstream: unknown upstream \"userz\"".
type Error struct {
	File   string // config file path as given by the user
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	Path   string // field path, e.g. routes[3].upstream; empty for file-level errors
	Msg    string // the reason
}

func (e Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one configuration, in file order.
type Errors []Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Sort orders errors by line, then column, then path, so that reports read
// top to bottom like the file.
func (es Errors) Sort() {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		if es[i].Column != es[j].Column {
			return es[i].Column < es[j].Column
		}
		return es[i].Path < es[j].Path
	})
}
