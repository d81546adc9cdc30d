// Package config defines Floodgate's declarative configuration: the YAML
// schema (these types), loading with source positions, ${ENV} expansion,
// validation that reports every error at once with file, line, field path and
// reason, and the JSON Schema published by `floodgate schema`.
//
// The types here are the *input*: the loader never writes defaults back into
// them. Defaults are applied by the compiler (internal/gateway) when it builds
// runtime objects, and each field documents its default, unit and limits in
// its `doc` tag, which is also what the JSON Schema shows.
//
// Why gopkg.in/yaml.v3: it exposes the node tree with line and column of every
// key and value, which is what lets us say "floodgate.yaml:42: routes[3].upstream".
package config

// Config is the root of a Floodgate configuration file.
type Config struct {
	Admin     Admin      `yaml:"admin" doc:"The admin API listener (health, config, routes, upstreams, reload, metrics)."`
	Listeners []Listener `yaml:"listeners" doc:"Addresses on which Floodgate accepts client traffic. At least one is required."`
	Upstreams []Upstream `yaml:"upstreams" doc:"Named groups of backend targets that routes proxy to."`
	Routes    []Route    `yaml:"routes" doc:"Routing rules. The most specific match wins; see route.match for the precedence."`
	AccessLog AccessLog  `yaml:"access_log" doc:"One line per request: route, upstream, status, bytes, duration, request ID."`
	Shutdown  Shutdown   `yaml:"shutdown" doc:"Graceful shutdown on SIGTERM/SIGINT."`
}

// Admin configures the admin API listener.
type Admin struct {
	Address string `yaml:"address" doc:"host:port of the admin API. Default 127.0.0.1:9901 (loopback only). The value \"off\" disables it."`
}

// Listener is one address accepting client connections.
type Listener struct {
	Name              string       `yaml:"name" doc:"Unique name, referenced by routes[].listeners. Default: the address."`
	Address           string       `yaml:"address" doc:"host:port to listen on, e.g. 0.0.0.0:8080 or 127.0.0.1:8443. Required."`
	TLS               *ListenerTLS `yaml:"tls" doc:"Serve HTTPS. HTTP/2 is offered by ALPN unless http2 is false."`
	HTTP2             *bool        `yaml:"http2" doc:"With tls: offer HTTP/2 via ALPN. Default true."`
	H2C               bool         `yaml:"h2c" doc:"Without tls: also accept cleartext HTTP/2 (prior knowledge and HTTP/1.1 Upgrade: h2c). Default false."`
	ReadHeaderTimeout Duration     `yaml:"read_header_timeout" doc:"Time allowed to read a request's headers (slowloris guard). Default 10s."`
	IdleTimeout       Duration     `yaml:"idle_timeout" doc:"How long an idle keep-alive connection is kept. Default 120s."`
	WriteTimeout      Duration     `yaml:"write_timeout" doc:"Time allowed to write one response chunk to a slow client. Default 0 (none); streaming responses make a total write timeout unsuitable."`
	MaxHeaderBytes    ByteSize     `yaml:"max_header_bytes" doc:"Largest accepted request head (request line + headers). Larger requests get 431. Default 32KiB, limit 1MiB."`
}

// ListenerTLS configures TLS on a listener.
type ListenerTLS struct {
	Certificates []Certificate `yaml:"certificates" doc:"Certificates; the one matching the client's SNI is served, the first one when nothing matches. At least one."`
	MinVersion   string        `yaml:"min_version" doc:"Lowest TLS version accepted: \"1.2\" (default) or \"1.3\"." enum:"1.2,1.3"`
}

// Certificate is a PEM certificate chain and its private key.
type Certificate struct {
	CertFile string `yaml:"cert_file" doc:"PEM certificate chain. Relative paths are relative to the config file."`
	KeyFile  string `yaml:"key_file" doc:"PEM private key. Relative paths are relative to the config file."`
}

// Upstream is a named set of backend targets.
type Upstream struct {
	Name                  string           `yaml:"name" doc:"Unique name, referenced by routes[].upstream. Required."`
	Targets               []Target         `yaml:"targets" doc:"Backend instances. A target is a URL string or {url, weight}. At least one."`
	Protocol              string           `yaml:"protocol" doc:"Wire protocol to the targets: http1 (default), h2c (cleartext HTTP/2 prior knowledge, for gRPC) or h2 (HTTP/2 over TLS; targets must be https)." enum:"http1,h2c,h2"`
	TLS                   *UpstreamTLS     `yaml:"tls" doc:"TLS settings for https targets."`
	Timeouts              UpstreamTimeouts `yaml:"timeouts" doc:"Connection-level timeouts towards the targets."`
	MaxIdleConnsPerTarget int              `yaml:"max_idle_conns_per_target" doc:"Idle keep-alive connections kept per target. Default 256, 0 keeps the default, -1 disables keep-alive."`
}

// Target is one backend instance.
type Target struct {
	URL    string `yaml:"url" doc:"http://host:port or https://host:port. A path is not allowed here; use rewrites."`
	Weight int    `yaml:"weight" doc:"Relative share of requests. Default 1, range 1-1000000."`
}

// UpstreamTLS configures TLS towards upstream targets.
type UpstreamTLS struct {
	CAFile             string `yaml:"ca_file" doc:"PEM bundle of CAs trusted for the targets' certificates. Default: the system roots."`
	ServerName         string `yaml:"server_name" doc:"SNI and verification name. Default: the target's host."`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" doc:"Do not verify the targets' certificates. For tests only."`
}

// UpstreamTimeouts are per-upstream connection timeouts.
type UpstreamTimeouts struct {
	Connect        Duration `yaml:"connect" doc:"TCP connect (and TLS handshake) timeout. Default 5s."`
	ResponseHeader Duration `yaml:"response_header" doc:"Time from the end of the request to the response headers. Default 60s; 0 keeps the default."`
	Idle           Duration `yaml:"idle" doc:"How long an idle upstream connection is kept for reuse. Default 90s."`
}

// Route maps matching requests to a terminal handler (an upstream, a static
// reply or an echo), with optional rewrites and header changes.
type Route struct {
	Name            string    `yaml:"name" doc:"Unique name, used in metrics and logs. Default route-<index>."`
	Listeners       []string  `yaml:"listeners" doc:"Listener names this route is served on. Default: all listeners."`
	Priority        int       `yaml:"priority" doc:"Tie-breaker between routes of equal specificity: higher wins. Default 0."`
	Match           Match     `yaml:"match" doc:"Which requests this route takes. Empty matches everything (prefix /)."`
	Rewrite         *Rewrite  `yaml:"rewrite" doc:"Path and Host rewriting before the request reaches the upstream."`
	RequestHeaders  HeaderOps `yaml:"request_headers" doc:"Header changes on the request sent upstream."`
	ResponseHeaders HeaderOps `yaml:"response_headers" doc:"Header changes on the response sent to the client."`
	Timeout         Duration  `yaml:"timeout" doc:"Total time for the upstream exchange including the response body. Default 0 (none; the upstream's timeouts apply). Streaming routes should leave it unset."`
	MaxBodyBytes    ByteSize  `yaml:"max_body_bytes" doc:"Largest accepted request body; larger ones get 413. Default 0 (unlimited, streamed)."`
	Upstream        string    `yaml:"upstream" doc:"Terminal: proxy to this upstream. Exactly one of upstream, static, echo."`
	Static          *Static   `yaml:"static" doc:"Terminal: answer with a fixed response. Exactly one of upstream, static, echo."`
	Echo            bool      `yaml:"echo" doc:"Terminal: answer with a JSON description of the request (method, path, headers, params, body size). Exactly one of upstream, static, echo."`
}

// Match holds the predicates a request must satisfy; all given ones must hold.
//
// Precedence when several routes match: (1) host: exact beats wildcard, longer
// wildcard beats shorter, any host last; (2) path: exact beats template, a
// template with more literal segments beats fewer, templates beat prefixes,
// longer prefixes beat shorter; (3) more method/header/query predicates win;
// (4) higher priority wins; (5) earlier in the file wins.
type Match struct {
	Hosts      []string    `yaml:"hosts" doc:"Host names: exact (api.example.com) or a leading wildcard (*.example.com, which matches one or more labels). Case-insensitive, port ignored. Default: any host."`
	Path       string      `yaml:"path" doc:"Exact path (/health) or template: {name} matches one segment, a final {name...} matches the rest (/users/{id}, /files/{path...}). Not with path_prefix."`
	PathPrefix string      `yaml:"path_prefix" doc:"Path prefix matched on segment boundaries: /api matches /api and /api/x, not /apix. Default / when path is not set."`
	Methods    []string    `yaml:"methods" doc:"HTTP methods (GET, POST, ...). Default: any."`
	Headers    []Predicate `yaml:"headers" doc:"Header predicates; all must hold."`
	Query      []Predicate `yaml:"query" doc:"Query parameter predicates; all must hold."`
}

// Predicate tests one header or query parameter. With none of value, prefix,
// regex or present set, it requires presence.
type Predicate struct {
	Name    string `yaml:"name" doc:"Header or query parameter name (headers are case-insensitive). Required."`
	Value   string `yaml:"value" doc:"Exact value."`
	Prefix  string `yaml:"prefix" doc:"Value prefix."`
	Regex   string `yaml:"regex" doc:"RE2 regular expression matched against the whole value (anchored)."`
	Present *bool  `yaml:"present" doc:"true: must be present (any value); false: must be absent."`
}

// Rewrite changes the request path and Host before proxying.
type Rewrite struct {
	StripPrefix   string `yaml:"strip_prefix" doc:"Remove this prefix from the path (/api/users -> /users). The result is never empty: / at least."`
	ReplacePrefix string `yaml:"replace_prefix" doc:"With strip_prefix: put this in its place (/api -> /v2). Alone: replaces the route's path_prefix."`
	Path          string `yaml:"path" doc:"New path built from a template using the route's path parameters: /v1/users/{id}. Not with strip_prefix/replace_prefix."`
	Host          string `yaml:"host" doc:"Host header sent upstream. Default: the client's Host (also sent as X-Forwarded-Host)."`
}

// HeaderOps changes headers: remove first, then set (replace), then add (append).
type HeaderOps struct {
	Remove []string          `yaml:"remove" doc:"Header names to delete."`
	Set    map[string]string `yaml:"set" doc:"Headers to set, replacing any existing values."`
	Add    map[string]string `yaml:"add" doc:"Headers to append, keeping existing values."`
}

// Static is a fixed response.
type Static struct {
	Status      int               `yaml:"status" doc:"HTTP status. Default 200, range 200-599."`
	Body        string            `yaml:"body" doc:"Response body."`
	ContentType string            `yaml:"content_type" doc:"Content-Type. Default text/plain; charset=utf-8."`
	Headers     map[string]string `yaml:"headers" doc:"Extra response headers."`
}

// AccessLog configures the per-request log.
type AccessLog struct {
	Enabled *bool  `yaml:"enabled" doc:"Write the access log. Default true."`
	Output  string `yaml:"output" doc:"stdout (default), stderr, or a file path (opened for append; reopened on reload)."`
	Format  string `yaml:"format" doc:"json (default) or text." enum:"json,text"`
}

// Shutdown configures graceful shutdown.
type Shutdown struct {
	GracePeriod Duration `yaml:"grace_period" doc:"On SIGTERM/SIGINT: stop accepting, then wait this long for in-flight requests before closing connections. Default 30s."`
}
