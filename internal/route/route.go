package route

import (
	"fmt"
	"regexp"
)

// Spec is one route's matching rules. See the package documentation for the
// meaning of each rule and for how competing routes are ranked.
type Spec struct {
	// ID is returned in Match.Route when this spec wins; it is the caller's
	// handle for the route (typically its index in the configuration).
	ID int
	// Hosts are exact names ("api.example.com") or leading wildcards
	// ("*.example.com", one or more labels). Case-insensitive; empty means any
	// host.
	Hosts []string
	// Path is an exact path ("/health") or a template ("/users/{id}",
	// "/files/{path...}"). Not together with PathPrefix.
	Path string
	// PathPrefix matches on segment boundaries; "" and "/" match everything.
	PathPrefix string
	// Methods the route accepts, matched exactly; empty means any.
	Methods []string
	// Headers and Query predicates must all hold.
	Headers []Predicate
	Query   []Predicate
	// Priority breaks ties between routes of equal specificity; higher wins.
	Priority int
}

// PredicateKind says how a Predicate tests a header or query parameter.
type PredicateKind uint8

// The zero PredicateKind is Present, so a Predicate with only a Name
// requires presence, as the configuration file documents.
const (
	Present PredicateKind = iota // at least one value (possibly empty)
	Absent                       // no value at all
	Exact                        // some value equals Value
	Prefix                       // some value starts with Value
	Regex                        // Regex.MatchString holds for some value
)

func (k PredicateKind) String() string {
	switch k {
	case Present:
		return "present"
	case Absent:
		return "absent"
	case Exact:
		return "exact"
	case Prefix:
		return "prefix"
	case Regex:
		return "regex"
	}
	return fmt.Sprintf("PredicateKind(%d)", uint8(k))
}

// Predicate tests one header (Name case-insensitive) or query parameter (Name
// case-sensitive, values compared unescaped).
type Predicate struct {
	Name  string
	Kind  PredicateKind
	Value string // for Exact and Prefix
	// Regex is used as is for Kind Regex: the caller anchors it
	// (^(?:...)$) if the whole value must match.
	Regex *regexp.Regexp
}

// Param is one path parameter of the winning route. Value is a substring of
// r.URL.Path, not a copy.
type Param struct{ Name, Value string }

// MaxParams is the most parameters a path template may declare. It bounds
// Match.Params so that a Match can live on the stack.
const MaxParams = 16

// Match receives the result of Table.Match. It is meant to be reused (or
// declared on the stack) by the caller; Table.Match overwrites it.
type Match struct {
	Route   int // Spec.ID of the winner; -1 when nothing matched
	NParams int // Params[:NParams] are valid
	Params  [MaxParams]Param
}

// Param returns the value of the named path parameter of the winning route.
func (m *Match) Param(name string) (string, bool) {
	for _, p := range m.Params[:m.NParams] {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}

// CompileError describes one invalid spec.
type CompileError struct {
	Spec  int    // index in the slice given to Compile
	Field string // "path", "path_prefix", "hosts[1]", "methods[0]", "headers[2]", "query[0]"; "" for the spec as a whole
	Msg   string
}

func (e CompileError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("route %d: %s", e.Spec, e.Msg)
	}
	return fmt.Sprintf("route %d: %s: %s", e.Spec, e.Field, e.Msg)
}

// Table is a compiled, immutable set of routes. It is safe for concurrent
// use by any number of goroutines.
//
// Each host level (one exact host, one wildcard suffix, or any host) is a
// single trie of path segments. Exact paths and templates end at a node's
// leaf or catchAll; prefixes are lists of routes on the node of their last
// segment. An exact path needs no separate map: it has more literal segments
// than any template matching the same path, so rule 2 ranks it first anyway.
// Prefixes share the trie so that the literal segments of a request are
// looked up once for both (see searcher.spine).
type Table struct {
	exact strTable[*node] // exact host name -> trie root
	wild  strTable[*node] // wildcard suffix without "*." -> trie root
	any   *node           // routes without hosts; nil if none
	hosts bool            // exact or wild has entries
	n     int
}

// Len returns the number of routes in the table.
func (t *Table) Len() int { return t.n }

// node is a trie node. The child reached from a node consumes one path
// segment.
type node struct {
	// The fields the path walk reads come first, to share cache lines.
	maxLit      int             // most literal segments of any leaf in this subtree; -1 if none
	param       *node           // "{name}" child
	catchAll    *leaf           // templates whose "{name...}" starts after this node
	leaf        *leaf           // exact paths and templates ending at this node
	kids        strTable[*node] // literal children
	prefixBelow bool            // some proper descendant has prefix routes

	routes []*route // prefix routes ending here, in precedence order
	up     *node    // nearest proper ancestor with prefix routes

	build map[string]*node // literal children while compiling
}

// maxSliceChildren is the fan-out above which literal children (and hosts)
// move from a scanned slice to a hash table; see strTable.
const maxSliceChildren = 8

// leaf holds the routes sharing one path shape, in precedence order (rules
// 3-5). lits and catchAll rank the shape (rule 2).
type leaf struct {
	lits     int
	catchAll bool
	routes   []*route
}

// route is a compiled Spec.
type route struct {
	id       int
	priority int
	npreds   int      // rule 3
	params   []string // parameter names, in path order
	methods  []string
	headers  []pred // names canonicalised
	query    []pred
}

// pred is a compiled Predicate.
type pred struct {
	name  string
	kind  PredicateKind
	value string
	re    *regexp.Regexp
}
