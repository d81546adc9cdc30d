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
	Admin        Admin         `yaml:"admin" doc:"The admin API listener (health, config, routes, upstreams, reload, metrics)."`
	Listeners    []Listener    `yaml:"listeners" doc:"Addresses on which Floodgate accepts client traffic. At least one is required."`
	Upstreams    []Upstream    `yaml:"upstreams" doc:"Named groups of backend targets that routes proxy to."`
	Routes       []Route       `yaml:"routes" doc:"Routing rules. The most specific match wins; see route.match for the precedence."`
	AccessLog    AccessLog     `yaml:"access_log" doc:"One line per request: route, upstream, status, bytes, duration, request ID."`
	Consumers    []Consumer    `yaml:"consumers" doc:"Identities that call the APIs, with their API keys (hashed), roles and plan."`
	JWTProviders []JWTProvider `yaml:"jwt_providers" doc:"JWT verification keys (JWKS URLs, files, HMAC secrets) and claim checks, referenced by routes[].auth.jwt."`
	Security     Security      `yaml:"security" doc:"Trusted proxies and the audit log."`
	TokenService *TokenService `yaml:"token_service" doc:"Floodgate as the OAuth2 authorization server of its APIs (client_credentials, a delegated password grant, revocation, introspection, JWKS)."`
	Store        Store         `yaml:"store" doc:"Shared state (tokens; later limits, quotas, cache): memory by default, Redis for several instances."`
	Shutdown     Shutdown      `yaml:"shutdown" doc:"Graceful shutdown on SIGTERM/SIGINT."`
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
	Paths             PathOptions  `yaml:"paths" doc:"Request path normalization before routing and authorization."`
}

// PathOptions control request path normalization.
type PathOptions struct {
	Normalize         *bool `yaml:"normalize" doc:"Normalize paths before routing, authorization and proxying: remove dot segments, merge duplicate slashes, decode escaped unreserved characters, upper-case remaining escapes; refuse (400) encoded slash or backslash, raw backslash, NUL, double encoding, dot segments with parameters (..;) and .. above the root. Default true. false forwards paths exactly as received (routing then sees the decoded path as is)."`
	AllowEncodedSlash bool  `yaml:"allow_encoded_slash" doc:"Keep %2F and %5C (as data, not separators) instead of refusing them. Default false."`
	AllowBackslash    bool  `yaml:"allow_backslash" doc:"Keep a raw backslash (as data) instead of refusing it. Default false."`
	MergeSlashes      *bool `yaml:"merge_slashes" doc:"Merge duplicate slashes (//). Default true."`
}

// ListenerTLS configures TLS on a listener.
type ListenerTLS struct {
	Certificates []Certificate `yaml:"certificates" doc:"Certificates; the one matching the client's SNI is served, the first one when nothing matches. At least one."`
	MinVersion   string        `yaml:"min_version" doc:"Lowest TLS version accepted: \"1.2\" (default) or \"1.3\"." enum:"1.2,1.3"`
	ClientCA     string        `yaml:"client_ca" doc:"PEM bundle of CAs that sign client certificates (mTLS). Required with client_auth."`
	ClientAuth   string        `yaml:"client_auth" doc:"Client certificates: none (default), request (verified against client_ca when presented; routes with auth.mtls require one), require (the handshake fails without a valid one), or request_any (asked for but verified only by routes with auth.client_ca: each route trusts its own CAs)." enum:"none,request,require,request_any"`
}

// Certificate is a PEM certificate chain and its private key.
type Certificate struct {
	CertFile string `yaml:"cert_file" doc:"PEM certificate chain. Relative paths are relative to the config file."`
	KeyFile  string `yaml:"key_file" doc:"PEM private key. Relative paths are relative to the config file."`
}

// Upstream is a named set of backend targets with its balancing, health,
// retry, breaker and concurrency policies.
type Upstream struct {
	Name                  string           `yaml:"name" doc:"Unique name, referenced by routes[].upstream. Required."`
	Targets               []Target         `yaml:"targets" doc:"Static backend instances. A target is a URL string or {url, weight}. At least one target or a discovery source."`
	Discovery             *Discovery       `yaml:"discovery" doc:"Find targets dynamically (DNS, a file) instead of, or in addition to, static targets."`
	Protocol              string           `yaml:"protocol" doc:"Wire protocol to the targets: http1 (default), h2c (cleartext HTTP/2 prior knowledge, for gRPC) or h2 (HTTP/2 over TLS; targets must be https)." enum:"http1,h2c,h2"`
	TLS                   *UpstreamTLS     `yaml:"tls" doc:"TLS settings for https targets."`
	Timeouts              UpstreamTimeouts `yaml:"timeouts" doc:"Connection-level timeouts towards the targets."`
	MaxIdleConnsPerTarget int              `yaml:"max_idle_conns_per_target" doc:"Idle keep-alive connections kept per target. Default 256, 0 keeps the default, -1 disables keep-alive."`
	Balancer              Balancer         `yaml:"balancer" doc:"How a target is chosen for each request."`
	Health                Health           `yaml:"health" doc:"Active probes and passive outlier detection (including hang detection)."`
	Breaker               *Breaker         `yaml:"breaker" doc:"Circuit breaker for the whole upstream: when it opens, requests fail fast with 503 instead of reaching a failing service. Default: none."`
	Retries               Retries          `yaml:"retries" doc:"Retry policy towards this upstream (routes may override it)."`
	Limits                *Limits          `yaml:"limits" doc:"Bulkhead: concurrent requests to this upstream, with a bounded wait queue. Default: unlimited."`
	DrainTimeout          Duration         `yaml:"drain_timeout" doc:"How long a removed target keeps its in-flight requests before its connections are closed. Default 30s."`
	Managed               *Managed         `yaml:"managed" doc:"Run the instances as local processes (the embedded provider) instead of listing targets: started, health-checked, restarted, replaced and rolled by Floodgate."`
	Autoscale             *Autoscale       `yaml:"autoscale" doc:"Scale the managed instances from the load the gateway measures. Default: a fixed number of instances (managed.instances)."`
}

// Discovery sources. Targets found are added to the static ones.
type Discovery struct {
	DNS  *DNSDiscovery  `yaml:"dns" doc:"Resolve targets from DNS, re-resolved when the records' TTL expires."`
	File *FileDiscovery `yaml:"file" doc:"Read targets from a YAML or JSON file, re-read when it changes."`
}

// DNSDiscovery resolves targets from A/AAAA or SRV records.
type DNSDiscovery struct {
	Name     string   `yaml:"name" doc:"DNS name to resolve, e.g. users.default.svc.cluster.local or _http._tcp.users.example.com (SRV). Required."`
	Type     string   `yaml:"type" doc:"Record type: A (default; IPv4), AAAA (IPv6), A+AAAA (both) or SRV (hosts, ports and weights from the records)." enum:"A,AAAA,A+AAAA,SRV"`
	Port     int      `yaml:"port" doc:"Target port for A/AAAA records. Required unless type is SRV."`
	Scheme   string   `yaml:"scheme" doc:"http (default) or https." enum:"http,https"`
	Resolver string   `yaml:"resolver" doc:"host:port of the DNS server. Default: the first nameserver of /etc/resolv.conf."`
	MinTTL   Duration `yaml:"min_ttl" doc:"Re-resolve no more often than this, whatever the TTL. Default 1s."`
	MaxTTL   Duration `yaml:"max_ttl" doc:"Re-resolve at least this often. Default 5m."`
}

// FileDiscovery reads targets from a file.
type FileDiscovery struct {
	Path string `yaml:"path" doc:"File holding a list of targets (URL strings or {url, weight}), YAML or JSON. Relative to the config file. Re-read when it changes; an invalid file keeps the last good list."`
}

// Balancer chooses a target per request.
type Balancer struct {
	Algorithm string    `yaml:"algorithm" doc:"p2c (default: power of two choices over EWMA latency × in-flight), round_robin, weighted_round_robin (smooth, as nginx), least_conn, or hash (consistent, Maglev)." enum:"p2c,round_robin,weighted_round_robin,least_conn,hash"`
	HashKey   *HashKey  `yaml:"hash_key" doc:"With algorithm hash: what the hash is computed from. Requests without the key are balanced with p2c."`
	Affinity  *Affinity `yaml:"affinity" doc:"Session affinity: a cookie keeps a client on the instance that served it first (for stateful services)."`
}

// HashKey names the request property a consistent hash uses.
type HashKey struct {
	Source string `yaml:"source" doc:"header, cookie, query, jwt_claim (the unverified claim of a bearer token: for stickiness, not for security) or client_ip." enum:"header,cookie,query,jwt_claim,client_ip"`
	Name   string `yaml:"name" doc:"Header, cookie, query parameter or claim name. Not for client_ip."`
}

// Affinity configures cookie-based session affinity.
type Affinity struct {
	Cookie string   `yaml:"cookie" doc:"Cookie name. Default fg_affinity."`
	TTL    Duration `yaml:"ttl" doc:"Cookie lifetime (Max-Age). Default 0: a session cookie."`
}

// Health configures target health.
type Health struct {
	Active         *ActiveHealth `yaml:"active" doc:"Probe every target periodically. Default: no active probes (passive detection only)."`
	Passive        PassiveHealth `yaml:"passive" doc:"Eject targets from live traffic results."`
	PanicThreshold Percent       `yaml:"panic_threshold" doc:"When fewer than this share of the targets are healthy, balance over all of them rather than overload the rest. Default 50%; 0% disables."`
}

// ActiveHealth is a periodic probe.
type ActiveHealth struct {
	Type               string   `yaml:"type" doc:"http (default), tcp (connect only) or grpc (grpc.health.v1)." enum:"http,tcp,grpc"`
	Path               string   `yaml:"path" doc:"http: request path. Default /healthz."`
	Host               string   `yaml:"host" doc:"http: Host header. Default: the target address."`
	ExpectedStatus     string   `yaml:"expected_status" doc:"http: healthy statuses, e.g. \"200-399\" or \"200,204\". Default 200-399."`
	BodyContains       string   `yaml:"body_contains" doc:"http: the body must contain this text (first 64 KiB). Default: not checked."`
	GRPCService        string   `yaml:"grpc_service" doc:"grpc: service name to check. Default \"\" (the server as a whole)."`
	Interval           Duration `yaml:"interval" doc:"Time between probes of a target. Default 5s."`
	Timeout            Duration `yaml:"timeout" doc:"Probe timeout. Default 1s."`
	Jitter             Percent  `yaml:"jitter" doc:"Random spread of probe times, so that probes of many targets do not align. Default 10%; 0% probes on the exact interval."`
	HealthyThreshold   int      `yaml:"healthy_threshold" doc:"Consecutive successes to mark an unhealthy target healthy. Default 2."`
	UnhealthyThreshold int      `yaml:"unhealthy_threshold" doc:"Consecutive failures to mark a healthy target unhealthy. Default 2."`
}

// PassiveHealth is outlier detection from live traffic.
type PassiveHealth struct {
	Disabled            bool     `yaml:"disabled" doc:"Turn passive outlier detection off. Default false."`
	ConsecutiveFailures int      `yaml:"consecutive_failures" doc:"Eject after this many consecutive failures (connect errors, resets, timeouts, 5xx). Default 3; 0 leaves only failure_rate and hang detection."`
	FailureRate         Percent  `yaml:"failure_rate" doc:"Eject when failures exceed this share of requests over the window. Default 0% (off)."`
	Window              Duration `yaml:"window" doc:"Window for failure_rate. Default 10s."`
	MinRequests         int      `yaml:"min_requests" doc:"Requests in the window before failure_rate applies. Default 20."`
	SlowThreshold       Duration `yaml:"slow_threshold" doc:"A response slower than this counts as a failure (hang detection). Default 0 (off)."`
	HangTimeout         Duration `yaml:"hang_timeout" doc:"Eject a target that has requests waiting for a response head and has answered none for this long, even if it still accepts connections (streams whose head arrived do not count). Requests waiting on it that can be retried (idempotent, body replayable, attempts left; HTTP/1.1 upstreams) are then retried on another target at once rather than after the response-header timeout. Default 5s; 0 disables."`
	BaseEjection        Duration `yaml:"base_ejection" doc:"First ejection time; it doubles with each further ejection (exponential back-off). Default 1s."`
	MaxEjection         Duration `yaml:"max_ejection" doc:"Longest ejection. Default 60s."`
}

// Breaker is a circuit breaker (closed / open / half-open).
type Breaker struct {
	ConsecutiveFailures int      `yaml:"consecutive_failures" doc:"Open after this many consecutive failures. Default 5; 0 uses only failure_ratio."`
	FailureRatio        Percent  `yaml:"failure_ratio" doc:"Open when failures exceed this share of requests in the window. Default 0% (off)."`
	Window              Duration `yaml:"window" doc:"Rolling window for failure_ratio. Default 10s."`
	MinRequests         int      `yaml:"min_requests" doc:"Requests in the window before failure_ratio applies. Default 20."`
	Cooldown            Duration `yaml:"cooldown" doc:"How long it stays open before letting trial requests through (half-open). Default 5s."`
	HalfOpenRequests    int      `yaml:"half_open_requests" doc:"Trial requests allowed while half-open; all must succeed to close. Default 1."`
}

// Retries is a retry policy.
type Retries struct {
	Attempts      int      `yaml:"attempts" doc:"Total tries per request including the first. Default 2; 1 disables retries."`
	OnStatus      []int    `yaml:"on_status" doc:"Response statuses that are retried for idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE). Default [502, 503, 504]."`
	NonIdempotent bool     `yaml:"non_idempotent" doc:"Also retry other methods on those statuses (only if the request body was buffered). Connect failures are always retried. Default false."`
	BackoffBase   Duration `yaml:"backoff_base" doc:"First back-off before a retry; doubles per retry, with full jitter. Default 25ms."`
	BackoffMax    Duration `yaml:"backoff_max" doc:"Longest back-off. Default 250ms."`
	Budget        Percent  `yaml:"budget" doc:"Retries may be at most this share of the upstream's requests (over 10 s), so that retries never amplify an outage. Default 20%; 0% leaves only min_per_second."`
	MinPerSecond  int      `yaml:"min_per_second" doc:"Retries always allowed per second regardless of the budget (low traffic). Default 10; 0 leaves only the budget."`
	BufferBody    ByteSize `yaml:"buffer_body" doc:"Request bodies up to this size are buffered so they can be sent again; larger ones stream and are not retried once sent. Default 64KiB; 0 keeps the default, -1 never buffers."`
}

// Limits is a bulkhead: bounded concurrency with a bounded wait queue.
type Limits struct {
	MaxConcurrent int      `yaml:"max_concurrent" doc:"Requests in progress at once. Required (> 0)."`
	Queue         int      `yaml:"queue" doc:"Requests that may wait for a slot. Default 0: overflow is refused at once (503 with Retry-After)."`
	QueueTimeout  Duration `yaml:"queue_timeout" doc:"Longest wait in the queue before 503. Default 1s."`
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
	CertFile           string `yaml:"cert_file" doc:"PEM client certificate presented to the targets (mTLS to upstreams). With key_file."`
	KeyFile            string `yaml:"key_file" doc:"PEM private key of cert_file."`
}

// UpstreamTimeouts are per-upstream connection timeouts.
type UpstreamTimeouts struct {
	Connect        Duration `yaml:"connect" doc:"TCP connect timeout. Default 5s."`
	TLSHandshake   Duration `yaml:"tls_handshake" doc:"TLS handshake timeout for https targets. Default 5s."`
	ResponseHeader Duration `yaml:"response_header" doc:"Time from the end of the request to the response headers. Default 60s; 0 keeps the default."`
	Idle           Duration `yaml:"idle" doc:"How long an idle upstream connection is kept for reuse. Default 90s."`
	DeadlineHeader string   `yaml:"deadline_header" doc:"Header that tells the upstream how much time remains (milliseconds) when the route has a timeout, e.g. X-Request-Timeout-Ms. A client's copy of the header is always removed. gRPC requests always get grpc-timeout. Default: none."`
}

// Route maps matching requests to a terminal handler (an upstream, a static
// reply or an echo), with optional rewrites and header changes.
type Route struct {
	Name            string     `yaml:"name" doc:"Unique name, used in metrics and logs. Default route-<index>."`
	Listeners       []string   `yaml:"listeners" doc:"Listener names this route is served on. Default: all listeners."`
	Priority        int        `yaml:"priority" doc:"Tie-breaker between routes of equal specificity: higher wins. Default 0."`
	Match           Match      `yaml:"match" doc:"Which requests this route takes. Empty matches everything (prefix /)."`
	Rewrite         *Rewrite   `yaml:"rewrite" doc:"Path and Host rewriting before the request reaches the upstream."`
	RequestHeaders  HeaderOps  `yaml:"request_headers" doc:"Header changes on the request sent upstream."`
	ResponseHeaders HeaderOps  `yaml:"response_headers" doc:"Header changes on the response sent to the client."`
	Timeout         Duration   `yaml:"timeout" doc:"Total time for the upstream exchange including the response body. Default 0 (none; the upstream's timeouts apply). Streaming routes should leave it unset."`
	MaxBodyBytes    ByteSize   `yaml:"max_body_bytes" doc:"Largest accepted request body; larger ones get 413. Default 0 (unlimited, streamed)."`
	Retries         *Retries   `yaml:"retries" doc:"Retry policy for this route, replacing the upstream's."`
	Limits          *Limits    `yaml:"limits" doc:"Bulkhead for this route: concurrent requests with a bounded wait queue. Default: unlimited."`
	Auth            *RouteAuth `yaml:"auth" doc:"Access control: authentication (API keys, JWT), RBAC rules, IP rules, identity headers. Checked before any upstream contact."`
	Upstream        string     `yaml:"upstream" doc:"Terminal: proxy to this upstream. Exactly one of upstream, static, echo."`
	Static          *Static    `yaml:"static" doc:"Terminal: answer with a fixed response. Exactly one of upstream, static, echo."`
	Echo            bool       `yaml:"echo" doc:"Terminal: answer with a JSON description of the request (method, path, headers, params, body size). Exactly one of upstream, static, echo."`
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
