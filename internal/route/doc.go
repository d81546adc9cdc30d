// Package route is Floodgate's HTTP router: it compiles the configured routes
// once (at load and on every reload) into an immutable [Table] and then
// matches each incoming request against that table.
//
// # Matching rules of one route
//
// A [Spec] matches a request when all of its rules hold:
//
//   - Hosts: the request's Host, lower-cased and without its port (and
//     without a trailing dot), equals one of the exact names
//     ("api.example.com"), or ends with the suffix of a leading wildcard:
//     "*.example.com" matches "a.example.com" and "a.b.example.com" but not
//     "example.com". No hosts means any host. (A Host longer than 256 bytes
//     matches no name; DNS names have at most 253.)
//   - Path (exact or template) or PathPrefix, compared with r.URL.Path as the
//     server decoded it. A template segment "{name}" matches exactly one
//     non-empty segment; a final "{name...}" matches the non-empty rest of the
//     path, slashes included. A trailing slash is significant: "/users/" does
//     not match "/users/{id}" or "/users". A prefix is matched on segment
//     boundaries: "/api" (or "/api/") matches "/api", "/api/" and "/api/x",
//     not "/apix"; "/" or "" matches every path.
//   - Methods: r.Method is one of them (compared exactly; write them in upper
//     case). None means any method.
//   - Headers: each predicate holds. Names are case-insensitive. When a header
//     has several values, Exact, Prefix and Regex hold if any value satisfies
//     them; Absent holds only if the header has no value at all.
//   - Query: each predicate holds. Keys are case-sensitive; values are compared
//     after query unescaping ('+' and %XX). A key given several times holds if
//     any occurrence satisfies the predicate. Pairs that r.URL.Query would drop
//     (invalid escapes, a ';' in the pair) are ignored here too.
//
// # Precedence
//
// When several routes match a request, the winner is decided by these rules,
// in order; a later rule only breaks ties left by the earlier ones.
//
//  1. Host. A route listing the exact request host beats one matching it by
//     wildcard; a longer wildcard suffix beats a shorter one ("*.api.example.com"
//     beats "*.example.com"); routes without hosts come last. These are levels:
//     if no route of the best level matches the rest of the request (path,
//     method, headers, query), the next level is tried.
//  2. Path. An exact path beats any template, and any template beats any
//     prefix. Between templates: more literal segments win; at an equal count a
//     template without a catch-all beats one with a catch-all; after that, the
//     first segment where the two templates differ decides, literal beating
//     "{param}" beating "{rest...}" ("/users/{id}/posts" beats
//     "/users/{id}/{rest...}", and for "/a/b", "/a/{x}" beats "/{x}/b").
//     Between prefixes, the one with more segments wins. Templates that only
//     differ in parameter names ("/u/{id}" and "/u/{uid}") rank the same.
//  3. Predicates. The route with more predicates wins, counting a non-empty
//     Methods list as one, plus one per header and query predicate.
//  4. Priority. Higher [Spec.Priority] wins.
//  5. Order. The spec that comes first in the slice given to [Compile] wins.
//
// Method, header and query predicates never hide another route: if the best
// route by path fails its predicates, the next one in the order above is
// tried. A GET-only "/users/{id}" route therefore does not stop a POST to
// "/users/7" from reaching a "/users" prefix route.
//
// Two specs with the same hosts, path shape or prefix, methods, predicates and
// priority can never both be chosen for a request; [Compile] reports the later
// one as an error instead of silently ignoring it.
//
// # Cost
//
// Matching never scans the route list. The table is organised by host: a
// table of exact names, a table of wildcard suffixes probed once per label of
// the request host (longest suffix first), and an any-host level. Each host
// level is one trie of path segments holding its exact paths, templates and
// prefixes. A literal segment is looked up among its parent's children, kept
// in a short slice when there are at most 8 and in a hash table above that. The work per request is therefore proportional
// to the number of path segments (and host labels), not to the number of
// routes.
//
// The path trie is walked depth first, trying at each segment the literal
// child, then the parameter child, then a catch-all, like the backtracking
// routers of julienschmidt/httprouter and Go's net/http ServeMux. The walk
// keeps the best-ranked match found so far and prunes every subtree whose
// best possible literal count cannot beat it, so when templates do not
// overlap it follows a single branch; when they do, each trie node is still
// visited at most once per request, because the walk is a traversal of a
// tree. Its first, all-literal descent also serves the prefix lookup, so no
// segment is looked up twice.
//
// A match does not allocate. The host is lower-cased (only if it has
// upper-case letters) into a stack buffer; parameters are substrings of
// r.URL.Path; header names are canonicalised at compile time so that
// r.Header[name] is a plain map lookup; query values are unescaped on the fly
// while being compared. The one exception is a Regex query predicate on a
// value that needs unescaping, which decodes into a pooled buffer (amortised
// zero allocations).
//
// A [Table] is immutable after [Compile] and safe for concurrent use.
package route
