package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

const (
	// maxFileSize bounds what Parse reads. Real configurations are a few
	// kilobytes; the limit only exists so a wrong path (a log file, a disk
	// image) fails fast instead of exhausting memory.
	maxFileSize = 8 << 20

	// maxAliasNodes bounds how many nodes aliases may expand to, in total.
	// Nodes written literally in the file are not counted (their number is
	// bounded by maxFileSize), so large configurations are never rejected,
	// but a "billion laughs" document is.
	maxAliasNodes = 100_000

	// maxErrors bounds a report. Nobody reads past the first screens, and
	// a hostile file must not make every line an error with a suggestion.
	maxErrors = 1000
)

// Load reads a YAML file and returns the decoded, validated config, or Errors
// listing every problem at once. Relative paths inside the file (certificates,
// CA bundles) are resolved against the file's directory.
func Load(path string) (*Config, *Source, error) {
	data, err := readFileLimited(path, maxFileSize)
	if err != nil {
		return nil, nil, Errors{{File: path, Msg: "cannot read config: " + describeFileError(err)}}
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse does the same as Load from bytes. file names the configuration in
// messages and its directory is the base for relative paths in it; env looks
// up ${VAR}s (os.LookupEnv in production, nil means no variable is set).
//
// On success the Source records where each field was written. On failure the
// error is an Errors, sorted in file order, and the Config and Source are nil.
func Parse(file string, data []byte, env func(string) (string, bool)) (*Config, *Source, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	src := &Source{File: file, Dir: dirOf(file), pos: map[string]position{}, env: map[string]bool{}}
	if len(data) > maxFileSize {
		return nil, nil, Errors{{File: file, Msg: fmt.Sprintf("config is larger than %d MiB", maxFileSize>>20)}}
	}
	root, perr := parseDocument(file, data)
	if perr != nil {
		return nil, nil, Errors{*perr}
	}
	if root == nil {
		return nil, nil, Errors{{File: file, Msg: "the config file is empty"}}
	}

	d := newDecoder(src)
	d.expandEnv(root, "", env)
	var cfg Config
	ok := root.Kind == yaml.MappingNode
	if ok {
		d.decode(root, reflect.ValueOf(&cfg).Elem(), "")
	} else {
		d.errorf(root, "", "the configuration must be a mapping (listeners:, upstreams:, routes: ...), got %s", describeNode(root))
	}

	errs := d.errs
	truncated := d.halted && !d.exhausted
	// A document cut short by the alias or error limit is only partly
	// decoded; validating it would mostly report the parts that are missing.
	if ok && !d.halted {
		verrs, full := validate(&cfg, src)
		truncated = truncated || full
		for _, e := range verrs {
			if !d.explains(e.Path) {
				errs = append(errs, e)
			}
		}
	}
	if len(errs) == 0 {
		return &cfg, src, nil
	}
	errs.Sort()
	if len(errs) > maxErrors {
		errs, truncated = errs[:maxErrors], true
	}
	if truncated {
		// Appended after sorting: it concludes the report.
		errs = append(errs, Error{File: file, Msg: fmt.Sprintf("too many errors; stopped after %d", maxErrors)})
	}
	return nil, nil, errs
}

// newDecoder returns a decoder recording positions into src.
func newDecoder(src *Source) *decoder {
	return &decoder{
		src:      src,
		active:   map[*yaml.Node]bool{},
		expanded: map[*yaml.Node]bool{},
		seen:     map[Error]bool{},
		structs:  map[reflect.Type]*structInfo{},
		failed:   map[string]bool{},
	}
}

// Source remembers where each field came from, so later stages (the compiler
// in internal/gateway) can report positioned errors for the same paths the
// loader uses: "routes[3].match.path", "upstreams[0].targets[1].url",
// "routes[0].request_headers.set.X-Trace" (see KeyPath for map keys).
type Source struct {
	File string // the config file as given by the user, for messages
	Dir  string // absolute directory of the file, the base for relative paths

	pos map[string]position
	env map[string]bool // field paths whose value came from ${ENV} expansion
}

type position struct{ line, col int }

// Pos returns the position of a field path like "routes[3].match.path". When
// the field was not written in the file it falls back to the nearest parent
// that was (routes[3].match, then routes[3], ...), and finally to 0, 0.
func (s *Source) Pos(path string) (line, col int) {
	if s == nil {
		return 0, 0
	}
	for {
		if p, ok := s.pos[path]; ok {
			return p.line, p.col
		}
		if path == "" {
			return 0, 0
		}
		path = parentPath(path)
	}
}

// Written reports whether path was written in the file (directly or through
// a "<<" merge), as opposed to left out. Most fields treat 0 as "the
// default", but for some an explicit 0 means something else ("off"); this is
// how to tell the two apart.
func (s *Source) Written(path string) bool {
	if s == nil {
		return false
	}
	_, ok := s.pos[path]
	return ok
}

// FromEnv reports whether the value at path was produced by ${ENV}
// expansion. The admin API redacts such values: environment variables are
// where deployments put secrets.
func (s *Source) FromEnv(path string) bool { return s != nil && s.env[path] }

// Errorf returns an Error for path, located with Pos.
func (s *Source) Errorf(path, format string, args ...any) Error {
	e := Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	if s != nil {
		e.File = s.File
		e.Line, e.Column = s.Pos(path)
	}
	return e
}

// Resolve returns p relative to the config file's directory; absolute paths
// and the empty string are returned unchanged.
func (s *Source) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || s == nil {
		return p
	}
	return filepath.Join(s.Dir, p)
}

// KeyPath appends a mapping key to a field path: "set" + "X-Trace" gives
// "set.X-Trace". Keys that are not plain words (letters, digits, '_', '-') are
// quoted so that the path stays unambiguous: set["X.Trace"].
func KeyPath(parent, key string) string {
	if !isPlainKey(key) {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func isPlainKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// IndexPath appends a list index to a field path: "routes" + 3 gives "routes[3]".
func IndexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// parentPath drops the last segment of a path: "a.b[2]" -> "a.b" -> "a" -> "".
// Quoted keys may contain '.' and '[', so it tracks quotes.
func parentPath(path string) string {
	last := 0
	quoted := false
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case quoted:
			if c == '\\' {
				i++
			} else if c == '"' {
				quoted = false
			}
		case c == '"':
			quoted = true
		case c == '.' || c == '[':
			last = i
		}
	}
	return path[:last]
}

func dirOf(file string) string {
	dir := filepath.Dir(file)
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// readFileLimited reads a regular file of at most limit bytes. Checking the
// mode before opening matters: opening a FIFO blocks, and /dev/zero never ends.
func readFileLimited(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

// describeFileError drops the path that *fs.PathError repeats, since our
// messages already name the file.
func describeFileError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// ---------------------------------------------------------------------------
// YAML parsing

// parseDocument parses data into the single document's root node, or returns
// one positioned Error. A file without a document (empty, or comments only)
// gives neither: what that means is the caller's business.
func parseDocument(file string, data []byte) (root *yaml.Node, perr *Error) {
	fail := func(line int, format string, args ...any) (*yaml.Node, *Error) {
		return nil, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	// yaml.v3 recovers its own failures, but a parser bug must not take the
	// gateway down on reload: report it like a syntax error instead.
	defer func() {
		if r := recover(); r != nil {
			root, perr = fail(0, "YAML parser failed: %v", r)
		}
	}()

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			line, msg := syntaxError(data, err)
			return fail(line, "%s", msg)
		}
		if len(doc.Content) == 0 || isEmptyDocument(doc.Content[0]) {
			continue // a stray "---" or a document of comments only
		}
		docs = append(docs, doc.Content[0])
		if len(docs) > 1 {
			return fail(docs[1].Line, "a second YAML document starts here; a config file holds exactly one")
		}
	}
	if len(docs) == 0 {
		return nil, nil
	}
	return docs[0], nil
}

func isEmptyDocument(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Style&yaml.TaggedStyle == 0 &&
		n.Anchor == "" && (n.Value == "" || n.Value == "~" || n.Value == "null")
}

// syntaxError turns a yaml.v3 error into a line and a message. yaml.v3 says
// "yaml: line N: reason", but omits the line when it is the first one and for
// some errors that carry no position; those we locate ourselves. It also
// reports parser (as opposed to scanner) errors with a 0-based line, which we
// correct so the line points at the offending text.
func syntaxError(data []byte, err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				msg = rest[i+2:]
				if isParserProblem(msg) {
					n++
				}
				return n, msg
			}
		}
	}
	switch {
	case strings.HasPrefix(msg, "unknown anchor '"):
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		return lineOfAlias(data, name), msg
	case strings.Contains(msg, "UTF-8"), strings.Contains(msg, "control characters"):
		if line := lineOfBadChar(data); line > 0 {
			return line, msg
		}
	}
	return 1, msg
}

// isParserProblem recognizes the messages of yaml.v3's parser (parserc.go);
// all other syntax errors come from its scanner.
func isParserProblem(msg string) bool {
	switch msg {
	case "did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"did not find expected '-' indicator", "did not find expected <document start>",
		"did not find expected <stream-start>", "did not find expected key",
		"did not find expected node content", "found duplicate %TAG directive",
		"found duplicate %YAML directive", "found incompatible YAML document",
		"found undefined tag handle":
		return true
	}
	return false
}

func lineOfAlias(data []byte, name string) int {
	s := string(data)
	for off := 0; ; {
		i := strings.Index(s[off:], "*"+name)
		if i < 0 {
			return 0
		}
		end := off + i + 1 + len(name)
		if end == len(s) || strings.ContainsRune(" \t\r\n,]}", rune(s[end])) {
			return 1 + strings.Count(s[:off+i], "\n")
		}
		off = end
	}
}

// lineOfBadChar finds the first byte sequence the YAML reader rejects:
// invalid UTF-8 or a non-printable character (YAML 1.2 §5.1).
func lineOfBadChar(data []byte) int {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		printable := r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0x7e || r == 0x85 ||
			r >= 0xa0 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd && r != 0xfeff || r >= 0x10000 && r <= 0x10ffff
		if r == 0xfeff && i == 0 {
			printable = true // byte order mark
		}
		if r == utf8.RuneError && size <= 1 || !printable {
			return line
		}
		if r == '\n' {
			line++
		}
		i += size
	}
	return 0
}

// ---------------------------------------------------------------------------
// ${ENV} expansion

// expandEnv substitutes environment variables in every scalar value (never in
// keys) of the tree, in place, before decoding: positions stay those of the
// written value, and decoding sees the final text. Each node is visited once;
// aliases are not followed since their anchors are visited where written.
func (d *decoder) expandEnv(n *yaml.Node, path string, env func(string) (string, bool)) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			kpath := path
			if k.Kind == yaml.ScalarNode {
				kpath = KeyPath(path, k.Value)
			}
			d.expandEnv(v, kpath, env)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			d.expandEnv(item, IndexPath(path, i), env)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		value, problems := expand(n.Value, env)
		for _, p := range problems {
			d.errorf(n, path, "%s", p)
		}
		if value == n.Value {
			return
		}
		n.Value = value
		d.expanded[n] = true
		// A plain, untagged scalar gets its type from its text: let yaml
		// resolve it again, so "port: ${PORT}" is an integer and
		// "tls: ${TLS}" with TLS="" is null. Quoted values stay strings.
		if n.Style&(yaml.TaggedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			n.Tag = ""
		}
	}
}

// expand replaces ${NAME} and ${NAME:-default} in s, and $$ with $. As in the
// shell, the default applies when NAME is unset or empty. A '$' not followed
// by '{' or '$' is kept, so regular expressions like "^/api$" need no escaping.
func expand(s string, env func(string) (string, bool)) (string, []string) {
	var b strings.Builder
	var problems []string
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 == len(s) || s[i+1] != '{' && s[i+1] != '$' {
			b.WriteByte(c)
			i++
			continue
		}
		if s[i+1] == '$' {
			b.WriteByte('$')
			i += 2
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			problems = append(problems, `unterminated "${"; write ${NAME} or ${NAME:-default}, or $$ for a literal $`)
			b.WriteString(s[i:])
			break
		}
		ref := s[i : i+2+end+1]
		body := s[i+2 : i+2+end]
		i += 2 + end + 1
		name, def, hasDefault := strings.Cut(body, ":-")
		switch {
		case !isEnvName(name):
			problems = append(problems, fmt.Sprintf("invalid reference %q; write ${NAME} or ${NAME:-default} (NAME: letters, digits and _, not starting with a digit), or $$ for a literal $", ref))
		case strings.Contains(def, "${"):
			problems = append(problems, fmt.Sprintf("nested reference in %q is not supported", ref+"}"))
		default:
			if v, ok := env(name); ok && (v != "" || !hasDefault) {
				b.WriteString(v)
			} else if hasDefault {
				b.WriteString(def)
			} else {
				problems = append(problems, fmt.Sprintf("environment variable %s is not set", name))
			}
		}
	}
	return b.String(), problems
}

func isEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Decoding

// decoder fills Go values from a yaml.Node tree, recording the position of
// every field it sets and an Error (with path and line) for every problem,
// then carrying on so that one run reports them all.
type decoder struct {
	src  *Source
	errs Errors
	// seen deduplicates errors: a problem inside an anchor is met again at
	// every alias that expands to the same path.
	seen map[Error]bool

	// failed holds paths with decode errors; validation errors on these
	// paths, below them or above them are consequences, not news.
	failed      map[string]bool
	failedBelow map[string]bool // ancestors of failed paths, built by explains

	// active holds the container nodes being decoded, to reject alias
	// cycles (&a [*a]) that yaml.v3 happily builds.
	active map[*yaml.Node]bool

	// aliasDepth > 0 while decoding through an alias; only those nodes count
	// against maxAliasNodes. aliasUse is the outermost alias being expanded,
	// where an "expands too much" error points.
	aliasDepth int
	aliasNodes int
	aliasUse   *yaml.Node
	exhausted  bool // the alias budget ran out

	// halted stops decoding: the alias budget ran out or there are
	// maxErrors errors already.
	halted bool

	// expanded holds the scalars that contained ${...} references.
	expanded map[*yaml.Node]bool

	structs map[reflect.Type]*structInfo
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	if len(d.errs) >= maxErrors {
		d.halted = true
		return
	}
	e := Error{File: d.src.File, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	if d.seen[e] {
		return
	}
	d.seen[e] = true
	d.errs = append(d.errs, e)
	if path != "" {
		d.failed[path] = true
	}
}

// mark records where path was written. The first record wins, so a key
// written explicitly keeps its position over one merged in with "<<".
func (d *decoder) mark(path string, n *yaml.Node) {
	if _, ok := d.src.pos[path]; !ok {
		d.src.pos[path] = position{n.Line, n.Column}
	}
}

// explains reports whether a validation error at path is a consequence of a
// decode error at, below or above the same path.
func (d *decoder) explains(path string) bool {
	if len(d.failed) == 0 {
		return false
	}
	if d.failedBelow == nil {
		d.failedBelow = map[string]bool{}
		for f := range d.failed {
			for p := f; p != ""; {
				p = parentPath(p)
				if d.failedBelow[p] {
					break
				}
				d.failedBelow[p] = true
			}
		}
	}
	// The root is above every path; one typo must not silence everything.
	if path != "" && d.failedBelow[path] {
		return true
	}
	for p := path; ; p = parentPath(p) {
		if d.failed[p] {
			return true
		}
		if p == "" {
			return false
		}
	}
}

// spend counts one node expanded through an alias; false when over budget.
func (d *decoder) spend(n *yaml.Node, path string) bool {
	if d.halted {
		return false
	}
	if d.aliasDepth == 0 {
		return true
	}
	d.aliasNodes++
	if d.aliasNodes > maxAliasNodes {
		d.errorf(d.aliasUse, path, "aliases expand to more than %d nodes; refusing the document", maxAliasNodes)
		d.exhausted, d.halted = true, true
		return false
	}
	return true
}

// deref follows an alias, guarding against cycles. The caller must call the
// returned release function when done with the target.
func (d *decoder) deref(n *yaml.Node, path string) (*yaml.Node, func(), bool) {
	if n.Kind != yaml.AliasNode {
		return n, func() {}, true
	}
	t := n.Alias
	if t == nil {
		d.errorf(n, path, "unknown anchor %q", n.Value)
		return nil, nil, false
	}
	if d.active[t] {
		d.errorf(n, path, "alias *%s refers to a node that contains it", n.Value)
		return nil, nil, false
	}
	if d.aliasDepth == 0 {
		d.aliasUse = n
	}
	d.aliasDepth++
	return t, func() { d.aliasDepth-- }, true
}

// decode stores n into v (which must be settable).
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if !d.spend(n, path) {
		return
	}
	n, release, ok := d.deref(n, path)
	if !ok {
		return
	}
	defer release()
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		v.Set(reflect.Zero(v.Type())) // "tls:" with nothing after it means unset
		return
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		if d.active[n] {
			d.errorf(n, path, "alias cycle")
			return
		}
		d.active[n] = true
		defer delete(d.active, n)
	}
	d.value(n, v, path)
}

func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if n.Kind == yaml.ScalarNode && d.expanded[n] {
		d.src.env[path] = true // for redaction: values from ${ENV} are where secrets live
		if t == reflect.TypeFor[Target]() {
			d.src.env[path+".url"] = true
		}
	}
	switch {
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.value(n, v.Elem(), path)
		return
	case t == reflect.TypeFor[Target]() && n.Kind == yaml.ScalarNode:
		// The shorthand "- http://127.0.0.1:9001" for {url: ...}.
		d.mark(path+".url", n)
		v.Set(reflect.ValueOf(Target{URL: n.Value}))
		return
	case t == reflect.TypeFor[Duration]() || t == reflect.TypeFor[ByteSize]() || t == reflect.TypeFor[Percent]():
		if n.Kind != yaml.ScalarNode {
			d.typeError(n, t, path)
			return
		}
	}
	if t != reflect.TypeFor[Target]() && reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.errorf(n, path, "%s", err.Error())
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	default:
		d.decodeScalar(n, v, path)
	}
}

func (d *decoder) typeError(n *yaml.Node, t reflect.Type, path string) {
	d.errorf(n, path, "expected %s, got %s", describeType(t), describeNode(n))
}

func describeType(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return "a duration such as 10s or 250ms"
	case reflect.TypeFor[ByteSize]():
		return "a size such as 1048576 or 64KiB"
	case reflect.TypeFor[Percent]():
		return "a percentage such as 20%"
	case reflect.TypeFor[Target]():
		return "a URL or a mapping with url and weight"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:37]
		for !utf8.ValidString(v) { // don't cut a character in half
			v = v[:len(v)-1]
		}
		v += "..."
	}
	return strconv.Quote(v)
}

type structInfo struct {
	index map[string]int // yaml name -> field index
	names []string       // yaml names in declaration order, for messages
}

func (d *decoder) structInfo(t reflect.Type) *structInfo {
	if si, ok := d.structs[t]; ok {
		return si
	}
	si := &structInfo{index: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		name, ok := yamlName(t.Field(i))
		if !ok {
			continue
		}
		si.index[name] = i
		si.names = append(si.names, name)
	}
	d.structs[t] = si
	return si
}

// yamlName is the key of a struct field, from its yaml tag.
func yamlName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return "", false
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, true
}

type pair struct {
	key, value *yaml.Node
	merged     bool // came from a "<<" merge: explicit keys override it
}

// pairs lists a mapping's key/value pairs with "<<" merges flattened in:
// explicit pairs first, then merged ones in order, so that "first key wins"
// gives YAML's merge precedence.
func (d *decoder) pairs(n *yaml.Node, path string, merged bool, out []pair) []pair {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		// Merged-in pairs count against the alias budget even when they
		// end up overridden: {<<: [*m, *m]} doubles the list at each level.
		if !d.spend(k, path) {
			return out
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		out = append(out, pair{k, v, merged})
	}
	for _, m := range merges {
		out = d.merge(m, path, out, true)
	}
	return out
}

func (d *decoder) merge(m *yaml.Node, path string, out []pair, allowList bool) []pair {
	if !d.spend(m, path) {
		return out
	}
	m, release, ok := d.deref(m, path)
	if !ok {
		return out
	}
	defer release()
	switch {
	case m.Kind == yaml.MappingNode && !d.active[m]:
		d.active[m] = true
		defer delete(d.active, m)
		return d.pairs(m, path, true, out)
	case m.Kind == yaml.MappingNode:
		d.errorf(m, path, "alias cycle")
	case m.Kind == yaml.SequenceNode && allowList:
		for _, item := range m.Content {
			out = d.merge(item, path, out, false)
		}
	default:
		d.errorf(m, path, "<< merges a mapping or a list of mappings, got %s", describeNode(m))
	}
	return out
}

// key returns a mapping key's text; keys must be scalars.
func (d *decoder) key(k *yaml.Node, path string) (string, bool) {
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		d.errorf(k, path, "mapping keys must be strings, got %s", describeNode(k))
		return "", false
	}
	return k.Value, true
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.typeError(n, v.Type(), path)
		return
	}
	si := d.structInfo(v.Type())
	d.eachKey(n, path, func(p pair, key, kpath string) {
		i, ok := si.index[key]
		if !ok {
			d.unknownField(p.key, path, key, si.names)
			return
		}
		d.mark(kpath, p.key)
		if allowsMinusOne(v.Type(), key) && d.minusOne(p.value, v.Field(i), kpath) {
			return
		}
		d.decode(p.value, v.Field(i), kpath)
	})
}

// allowsMinusOne lists the ByteSize fields whose documentation gives -1 a
// meaning ("never"). ByteSize itself refuses negative sizes, as every other
// size field wants.
func allowsMinusOne(t reflect.Type, key string) bool {
	return t == reflect.TypeFor[Retries]() && key == "buffer_body"
}

// minusOne stores -1 into v when n is the scalar -1, and reports whether it did.
func (d *decoder) minusOne(n *yaml.Node, v reflect.Value, path string) bool {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode || strings.TrimSpace(n.Value) != "-1" {
		return false
	}
	if d.expanded[n] {
		d.src.env[path] = true
	}
	v.SetInt(-1)
	return true
}

// eachKey calls fn for each key of mapping n (merge keys resolved), in
// order, until decoding halts; duplicate keys are reported, and only the
// first occurrence is passed on.
func (d *decoder) eachKey(n *yaml.Node, path string, fn func(p pair, key, kpath string)) {
	seen := map[string]*yaml.Node{}
	for _, p := range d.pairs(n, path, false, nil) {
		if d.halted {
			return
		}
		key, ok := d.key(p.key, path)
		if !ok {
			continue
		}
		kpath := KeyPath(path, key)
		if first, dup := seen[key]; dup {
			if !p.merged {
				d.errorf(p.key, kpath, "duplicate key %q (first at line %d)", key, first.Line)
			}
			continue
		}
		seen[key] = p.key
		fn(p, key, kpath)
	}
}

func (d *decoder) unknownField(k *yaml.Node, path, key string, names []string) {
	kpath := KeyPath(path, key)
	if s := suggest(key, names); s != "" {
		d.errorf(k, kpath, "unknown field %q; did you mean %q?", key, s)
		// The field meant is then missing; "address: required" would be noise.
		d.failed[KeyPath(path, s)] = true
		return
	}
	d.errorf(k, kpath, "unknown field %q; valid fields are %s", key, strings.Join(names, ", "))
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.typeError(n, v.Type(), path)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		if d.halted {
			break
		}
		ipath := IndexPath(path, i)
		d.mark(ipath, item)
		d.decode(item, s.Index(i), ipath)
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if n.Kind != yaml.MappingNode || t.Key().Kind() != reflect.String {
		d.typeError(n, t, path)
		return
	}
	m := reflect.MakeMapWithSize(t, len(n.Content)/2)
	d.eachKey(n, path, func(p pair, key, kpath string) {
		d.mark(kpath, p.key)
		elem := reflect.New(t.Elem()).Elem()
		d.decode(p.value, elem, kpath)
		m.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), elem)
	})
	v.Set(m)
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.typeError(n, v.Type(), path)
		return
	}
	tag := n.ShortTag()
	if tag == "!!str" && d.expanded[n] && n.Style&yaml.TaggedStyle == 0 {
		// port: "${PORT}" is quoted for YAML's sake (and must be inside
		// {...}), not to make the port a string: type it by its text.
		plain := *n
		plain.Tag, plain.Style = "", 0
		n = &plain
		tag = n.ShortTag()
	}
	switch v.Kind() {
	case reflect.String:
		// Any scalar is fine as text: "min_version: 1.2" is a float to YAML.
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if tag != "!!bool" || n.Decode(&b) != nil {
			d.typeError(n, v.Type(), path)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if tag != "!!int" || n.Decode(&i) != nil {
			d.intError(n, v.Type(), path)
			return
		}
		if v.OverflowInt(i) {
			d.errorf(n, path, "integer %s is out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		if tag != "!!int" || n.Decode(&u) != nil {
			d.intError(n, v.Type(), path)
			return
		}
		if v.OverflowUint(u) {
			d.errorf(n, path, "integer %s is out of range", n.Value)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		var f float64
		if tag != "!!int" && tag != "!!float" || n.Decode(&f) != nil {
			d.typeError(n, v.Type(), path)
			return
		}
		if v.OverflowFloat(f) {
			d.errorf(n, path, "number %s is out of range", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		// Only reachable if types.go gains a kind this decoder doesn't know.
		d.errorf(n, path, "cannot decode into %s", v.Type())
	}
}

// intError distinguishes "not a number" from "a number too large for int64",
// which YAML resolves to a float.
func (d *decoder) intError(n *yaml.Node, t reflect.Type, path string) {
	s := strings.TrimLeft(n.Value, "+-")
	if s != "" && strings.Trim(s, "0123456789") == "" {
		d.errorf(n, path, "integer %s is out of range", n.Value)
		return
	}
	d.typeError(n, t, path)
}
