package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Rule is one RBAC rule: requests whose path matches one of Paths (and
// whose method is in Methods, if set) need one of Roles, or nothing when
// Public.
type Rule struct {
	Paths   []string // globs on the normalized path: "*" one segment, a trailing "/**" any rest (also none)
	Methods []string // empty: every method
	Roles   []string // any of these
	Public  bool     // no authentication needed
	globs   []glob
}

// RBAC is an ordered rule list; the first matching rule decides.
type RBAC struct {
	Rules []Rule
	// DenyByDefault refuses requests no rule matches.
	DenyByDefault bool
}

// Decision is the outcome of an authorization check.
type Decision int

const (
	Allow        Decision = iota
	NeedIdentity          // anonymous and a rule needs a role: 401
	Forbidden             // authenticated but without the role, or denied by default: 403
)

// Compile checks and prepares the rules.
func (p *RBAC) Compile() error {
	for i := range p.Rules {
		r := &p.Rules[i]
		if len(r.Paths) == 0 {
			return fmt.Errorf("rules[%d]: set paths", i)
		}
		if r.Public == (len(r.Roles) > 0) {
			return fmt.Errorf("rules[%d]: set roles or public (one of them)", i)
		}
		r.globs = r.globs[:0]
		for _, pat := range r.Paths {
			g, err := compileGlob(pat)
			if err != nil {
				return fmt.Errorf("rules[%d].paths: %q: %v", i, pat, err)
			}
			r.globs = append(r.globs, g)
		}
		for j, m := range r.Methods {
			r.Methods[j] = strings.ToUpper(m)
		}
	}
	return nil
}

// Decide authorizes method on path for id (nil: anonymous). rule is the
// index of the deciding rule, -1 for the default.
func (p *RBAC) Decide(method, path string, id *Identity) (d Decision, rule int) {
	for i := range p.Rules {
		r := &p.Rules[i]
		if len(r.Methods) > 0 && !slices.Contains(r.Methods, method) {
			continue
		}
		if !r.matches(path) {
			continue
		}
		switch {
		case r.Public, id.HasAnyRole(r.Roles):
			return Allow, i
		case id == nil:
			return NeedIdentity, i
		default:
			return Forbidden, i
		}
	}
	if p.DenyByDefault {
		if id == nil {
			return NeedIdentity, -1
		}
		return Forbidden, -1
	}
	return Allow, -1
}

func (r *Rule) matches(path string) bool {
	for _, g := range r.globs {
		if g.match(path) {
			return true
		}
	}
	return false
}

// glob is a path pattern split into segments.
type glob struct {
	segs []string // "*" matches one segment
	rest bool     // trailing "/**": any number of further segments (including none)
}

// CheckGlob reports why p is not a valid rule path pattern (nil if it is).
func CheckGlob(p string) error {
	_, err := compileGlob(p)
	return err
}

func compileGlob(p string) (glob, error) {
	if !strings.HasPrefix(p, "/") {
		return glob{}, errors.New("must start with /")
	}
	var g glob
	if p == "/**" {
		return glob{rest: true}, nil
	}
	if q, ok := strings.CutSuffix(p, "/**"); ok {
		g.rest, p = true, q
	}
	for _, s := range strings.Split(p[1:], "/") {
		if strings.Contains(s, "**") {
			return glob{}, errors.New("** is only allowed as the last segment (/a/**)")
		}
		if s == "" && p != "/" {
			return glob{}, errors.New("empty path segment")
		}
		g.segs = append(g.segs, s)
	}
	return g, nil
}

// match is called with a normalized path (no "//", "." or ".." segments).
// It does not allocate.
func (g glob) match(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	rest := path[1:]
	for i, s := range g.segs {
		seg, tail, more := strings.Cut(rest, "/")
		if s != seg && (s != "*" || seg == "") {
			return false
		}
		if !more {
			return i == len(g.segs)-1 // the path ends with the pattern
		}
		rest = tail
	}
	// The path goes on: a subtree pattern matches; an exact one only when
	// all that is left is a trailing slash ("/a/b/" is "/a/b" for rules, so
	// a rule cannot be sidestepped by adding one).
	return g.rest || rest == ""
}
