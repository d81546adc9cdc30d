package route

import (
	"cmp"
	"fmt"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// Compile validates specs and builds a Table from them. It reports every
// problem it finds, not just the first; when there is any, it returns a nil
// Table, so that a bad reload can never install a partial route set.
func Compile(specs []Spec) (*Table, []CompileError) {
	var errs []CompileError
	cs := make([]compiled, 0, len(specs))
	seen := make(map[string]int, len(specs)) // duplicate key -> spec index
	for i := range specs {
		c, ok := compileSpec(i, &specs[i], &errs)
		if !ok {
			continue
		}
		if j, dup := seen[c.key]; dup {
			errs = append(errs, CompileError{Spec: i, Msg: fmt.Sprintf(
				"same match as route %d (make one more specific or set priority)", j)})
			continue
		}
		seen[c.key] = i
		cs = append(cs, c)
	}
	if len(errs) > 0 {
		return nil, errs
	}

	t := &Table{n: len(cs)}
	exact := make(map[string]*node)
	wild := make(map[string]*node)
	for i := range cs {
		c := &cs[i]
		if len(c.hosts) == 0 {
			if t.any == nil {
				t.any = &node{}
			}
			t.any.insert(c)
			continue
		}
		for _, h := range c.hosts {
			m, key := exact, h
			if name, ok := strings.CutPrefix(h, "*."); ok {
				m, key = wild, name
			}
			root := m[key]
			if root == nil {
				root = &node{}
				m[key] = root
			}
			root.insert(c)
		}
	}
	for _, m := range []map[string]*node{exact, wild} {
		for _, root := range m {
			root.finish(nil)
		}
	}
	if t.any != nil {
		t.any.finish(nil)
	}
	t.exact, t.wild = newStrTable(exact), newStrTable(wild)
	t.hosts = len(exact)+len(wild) > 0
	return t, nil
}

type pathKind uint8

const (
	pathExact pathKind = iota
	pathTemplate
	pathPrefix
)

type segKind uint8

const (
	segLit segKind = iota
	segParam
	segCatchAll
)

type segment struct {
	kind segKind
	text string // literal text, or parameter name
}

// compiled is a validated Spec on its way into the tables.
type compiled struct {
	rt    *route
	hosts []string // normalised, sorted, unique; wildcards keep their "*."
	kind  pathKind
	path  string    // pathExact: the path
	segs  []segment // the path's segments, or a prefix's
	key   string    // equal keys <=> the specs can never be told apart
}

// compileSpec validates s, appending any problems to errs.
func compileSpec(idx int, s *Spec, errs *[]CompileError) (compiled, bool) {
	nerr := len(*errs)
	fail := func(field, format string, args ...any) {
		*errs = append(*errs, CompileError{Spec: idx, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	c := compiled{rt: &route{id: s.ID, priority: s.Priority}}

	for i, h := range s.Hosts {
		norm, msg := normalizeHostPattern(h)
		if msg != "" {
			fail(fmt.Sprintf("hosts[%d]", i), "%s", msg)
			continue
		}
		c.hosts = append(c.hosts, norm)
	}
	slices.Sort(c.hosts)
	c.hosts = slices.Compact(c.hosts)

	switch {
	case s.Path != "" && s.PathPrefix != "":
		fail("path", "path and path_prefix are mutually exclusive")
	case s.Path != "":
		segs, nparams, msg := parseTemplate(s.Path)
		if msg != "" {
			fail("path", "%s", msg)
			break
		}
		if nparams == 0 {
			c.kind, c.path, c.segs = pathExact, s.Path, segs
			break
		}
		c.kind, c.segs = pathTemplate, segs
		c.rt.params = make([]string, 0, nparams)
		for _, sg := range segs {
			if sg.kind != segLit {
				c.rt.params = append(c.rt.params, sg.text)
			}
		}
	default:
		segs, msg := parsePrefix(s.PathPrefix)
		if msg != "" {
			fail("path_prefix", "%s", msg)
			break
		}
		c.kind, c.segs = pathPrefix, segs
	}

	for i, m := range s.Methods {
		if !isToken(m) {
			fail(fmt.Sprintf("methods[%d]", i), "invalid method token %q", m)
			continue
		}
		c.rt.methods = append(c.rt.methods, m)
	}
	slices.Sort(c.rt.methods)
	c.rt.methods = slices.Compact(c.rt.methods)

	for i := range s.Headers {
		p := &s.Headers[i]
		field := fmt.Sprintf("headers[%d]", i)
		switch {
		case p.Name == "":
			fail(field, "empty header name")
			continue
		case !isToken(p.Name):
			fail(field, "invalid header name %q", p.Name)
			continue
		}
		if msg := checkPredicate(p); msg != "" {
			fail(field, "%s", msg)
			continue
		}
		// Canonical at compile time so that matching is a plain
		// r.Header[name] lookup: net/http canonicalises incoming names.
		c.rt.headers = append(c.rt.headers, pred{
			name: textproto.CanonicalMIMEHeaderKey(p.Name), kind: p.Kind, value: p.Value, re: p.Regex})
	}
	for i := range s.Query {
		p := &s.Query[i]
		field := fmt.Sprintf("query[%d]", i)
		if p.Name == "" {
			fail(field, "empty query key")
			continue
		}
		if msg := checkPredicate(p); msg != "" {
			fail(field, "%s", msg)
			continue
		}
		c.rt.query = append(c.rt.query, pred{name: p.Name, kind: p.Kind, value: p.Value, re: p.Regex})
	}

	if len(*errs) > nerr {
		return c, false
	}
	c.rt.npreds = len(c.rt.headers) + len(c.rt.query)
	if len(c.rt.methods) > 0 {
		c.rt.npreds++
	}
	c.key = c.dupKey()
	return c, true
}

// checkPredicate validates the kind-specific fields of p.
func checkPredicate(p *Predicate) string {
	switch p.Kind {
	case Present, Absent, Exact, Prefix:
	case Regex:
		if p.Regex == nil {
			return "regex predicate without a regular expression"
		}
	default:
		return fmt.Sprintf("unknown predicate kind %d", p.Kind)
	}
	return ""
}

// dupKey returns a string that is equal for two specs exactly when no request
// could ever tell them apart: same hosts, same path shape (parameter names do
// not matter), same methods, predicates and priority. All the parts are
// already normalised and sorted where order does not matter.
func (c *compiled) dupKey() string {
	var b strings.Builder
	for _, h := range c.hosts {
		b.WriteString(h)
		b.WriteByte(0)
	}
	b.WriteByte(1)
	switch c.kind {
	case pathExact:
		b.WriteString("E")
		b.WriteString(c.path)
	case pathTemplate, pathPrefix:
		if c.kind == pathTemplate {
			b.WriteString("T")
		} else {
			b.WriteString("P")
		}
		for _, s := range c.segs {
			b.WriteByte('/')
			switch s.kind {
			case segLit:
				b.WriteString(s.text) // never contains braces
			case segParam:
				b.WriteString("{}")
			case segCatchAll:
				b.WriteString("{...}")
			}
		}
	}
	b.WriteByte(1)
	for _, m := range c.rt.methods {
		b.WriteString(m)
		b.WriteByte(0)
	}
	for _, ps := range [][]pred{c.rt.headers, c.rt.query} {
		b.WriteByte(1)
		keys := make([]string, len(ps))
		for i, p := range ps {
			k := p.name + "\x00" + p.kind.String() + "\x00"
			switch p.kind {
			case Exact, Prefix:
				k += p.value
			case Regex:
				k += p.re.String()
			}
			keys[i] = k
		}
		slices.Sort(keys)
		for _, k := range keys {
			b.WriteString(k)
			b.WriteByte(2)
		}
	}
	b.WriteByte(1)
	b.WriteString(strconv.Itoa(c.rt.priority))
	return b.String()
}

// parseTemplate parses an exact path or a template. It returns the segments
// (the parts between slashes after the leading one), the number of
// parameters, and an error message.
func parseTemplate(p string) ([]segment, int, string) {
	if p[0] != '/' {
		return nil, 0, fmt.Sprintf("%q must start with \"/\"", p)
	}
	parts := strings.Split(p[1:], "/")
	segs := make([]segment, len(parts))
	var names []string
	for i, part := range parts {
		if !strings.ContainsAny(part, "{}") {
			segs[i] = segment{kind: segLit, text: part}
			continue
		}
		if len(part) < 2 || part[0] != '{' || part[len(part)-1] != '}' ||
			strings.ContainsAny(part[1:len(part)-1], "{}") {
			return nil, 0, fmt.Sprintf("segment %q mixes literal text and a parameter; "+
				"a parameter must be a whole segment like {name}", part)
		}
		name, catchAll := strings.CutSuffix(part[1:len(part)-1], "...")
		if name == "" {
			return nil, 0, fmt.Sprintf("empty parameter name in %q", part)
		}
		if !isParamName(name) {
			return nil, 0, fmt.Sprintf("invalid parameter name %q (use letters, digits, '_' and '-')", name)
		}
		if slices.Contains(names, name) {
			return nil, 0, fmt.Sprintf("duplicate parameter name %q", name)
		}
		names = append(names, name)
		if len(names) > MaxParams {
			return nil, 0, fmt.Sprintf("more than %d parameters", MaxParams)
		}
		if catchAll {
			if i != len(parts)-1 {
				return nil, 0, fmt.Sprintf("catch-all %q must be the last segment", part)
			}
			segs[i] = segment{kind: segCatchAll, text: name}
		} else {
			segs[i] = segment{kind: segParam, text: name}
		}
	}
	return segs, len(names), ""
}

// parsePrefix parses a path prefix into its literal segments. "" and "/" are
// the root (no segments); one trailing slash is ignored, so "/api/" is "/api".
func parsePrefix(p string) ([]segment, string) {
	if p == "" || p == "/" {
		return nil, ""
	}
	if p[0] != '/' {
		return nil, fmt.Sprintf("%q must start with \"/\"", p)
	}
	if strings.ContainsAny(p, "{}") {
		return nil, fmt.Sprintf("%q: a prefix is literal; use path for {parameters}", p)
	}
	p = strings.TrimSuffix(p[1:], "/")
	parts := strings.Split(p, "/")
	segs := make([]segment, len(parts))
	for i, part := range parts {
		segs[i] = segment{kind: segLit, text: part}
	}
	return segs, ""
}

func isParamName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 9110 token (method and header names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// normalizeHostPattern validates a Spec host and returns it lower-cased,
// without a trailing dot; wildcards keep their leading "*.".
func normalizeHostPattern(h string) (string, string) {
	if h == "" {
		return "", "empty host"
	}
	if strings.IndexByte(h, '/') >= 0 {
		return "", fmt.Sprintf("%q must not contain \"/\" (a host name, not a URL)", h)
	}
	name, wildcard := strings.CutPrefix(h, "*.")
	if strings.IndexByte(name, '*') >= 0 {
		return "", fmt.Sprintf("%q: a wildcard must be a leading \"*.\" as in \"*.example.com\"", h)
	}
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		if wildcard {
			return "", fmt.Sprintf("%q: a wildcard needs a suffix after \"*.\"", h)
		}
		return "", "empty host"
	}
	if len(name) > 253 {
		return "", fmt.Sprintf("host name longer than 253 bytes (%d)", len(name))
	}
	if name[0] == '[' { // IPv6 literal
		if wildcard {
			return "", fmt.Sprintf("%q: an IP address cannot have a wildcard", h)
		}
		if name[len(name)-1] != ']' || len(name) < 3 {
			return "", fmt.Sprintf("%q: bad IPv6 literal", h)
		}
		for i := 1; i < len(name)-1; i++ {
			c := name[i]
			if !(isHex(c) || c == ':' || c == '.') {
				return "", fmt.Sprintf("%q: bad IPv6 literal", h)
			}
		}
		name = strings.ToLower(name)
		return name, ""
	}
	if strings.IndexByte(name, ':') >= 0 {
		return "", fmt.Sprintf("%q must not include a port (ports are ignored when matching)", h)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", fmt.Sprintf("%q: invalid character %q in host name (use punycode for international names)", h, c)
		}
	}
	if strings.HasPrefix(name, ".") || strings.Contains(name, "..") {
		return "", fmt.Sprintf("%q: empty label in host name", h)
	}
	name = strings.ToLower(name)
	if wildcard {
		return "*." + name, ""
	}
	return name, ""
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// insert adds a compiled spec to the trie of root's host level.
func (root *node) insert(c *compiled) {
	n, lits := root, 0
	for _, s := range c.segs {
		switch s.kind {
		case segLit:
			lits++
			n = n.literal(s.text)
		case segParam:
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
		case segCatchAll:
			// Always the last segment (parseTemplate checks).
			if n.catchAll == nil {
				n.catchAll = &leaf{lits: lits, catchAll: true}
			}
			n.catchAll.routes = append(n.catchAll.routes, c.rt)
			return
		}
	}
	if c.kind == pathPrefix {
		n.routes = append(n.routes, c.rt)
		return
	}
	if n.leaf == nil {
		n.leaf = &leaf{lits: lits}
	}
	n.leaf.routes = append(n.leaf.routes, c.rt)
}

// literal returns the literal child for seg, creating it (build time only).
func (n *node) literal(seg string) *node {
	if n.build == nil {
		n.build = make(map[string]*node)
	}
	c := n.build[seg]
	if c == nil {
		c = &node{}
		n.build[seg] = c
	}
	return c
}

// finish completes the subtree of n, whose nearest ancestor with prefix
// routes is up: it sorts routes into precedence order, computes the pruning
// bounds and up links, and freezes the children. It returns whether the
// subtree (n included) has prefix routes.
func (n *node) finish(up *node) (prefixes bool) {
	n.up = up
	if len(n.routes) > 0 {
		sortRoutes(n.routes)
		up = n
	}
	n.maxLit = -1
	for _, l := range []*leaf{n.leaf, n.catchAll} {
		if l != nil {
			sortRoutes(l.routes)
			n.maxLit = max(n.maxLit, l.lits)
		}
	}
	for _, c := range n.build {
		n.prefixBelow = c.finish(up) || n.prefixBelow
		n.maxLit = max(n.maxLit, c.maxLit)
	}
	if c := n.param; c != nil {
		// Prefixes are literal, so a parameter subtree has none; its nodes
		// need no up links.
		c.finish(nil)
		n.maxLit = max(n.maxLit, c.maxLit)
	}
	n.kids = newStrTable(n.build)
	n.build = nil
	return n.prefixBelow || len(n.routes) > 0
}

// sortRoutes orders the routes of one leaf by rules 3-5: more predicates,
// then higher priority, then lower spec index. Routes are inserted in index
// order, so a stable sort settles rule 5.
func sortRoutes(rs []*route) {
	slices.SortStableFunc(rs, func(a, b *route) int {
		if c := cmp.Compare(b.npreds, a.npreds); c != 0 {
			return c
		}
		return cmp.Compare(b.priority, a.priority)
	})
}
