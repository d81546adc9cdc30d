package config

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/floodgate/floodgate/internal/policy/auth"
)

// Consumer is an identity that calls the APIs: its credentials, roles and
// plan.
type Consumer struct {
	Name         string   `yaml:"name" doc:"Unique name; shown in logs, the audit log and forwarded as the consumer. Required."`
	Roles        []string `yaml:"roles" doc:"Roles (and scopes) RBAC rules check."`
	Plan         string   `yaml:"plan" doc:"Plan name (quotas and rate limits)."`
	Certificates []string `yaml:"certificates" doc:"Client certificate names (the subject common name, or a DNS, email or URI subject alternative name) that identify this consumer on routes with auth.mtls."`
	APIKeys      []string `yaml:"api_keys" secret:"true" doc:"SHA-256 hashes of the consumer's API keys, as \"sha256:<64 hex digits>\" (floodgate hash-key KEY prints one). Keys themselves are never written in the configuration."`
}

// Security holds settings shared by every route's access control.
type Security struct {
	TrustedProxies []string `yaml:"trusted_proxies" doc:"Addresses or CIDR prefixes of proxies in front of Floodgate whose X-Forwarded-For is believed (the right-most untrusted address is the client). Default: none, X-Forwarded-For is ignored for IP rules."`
	AuditLog       string   `yaml:"audit_log" doc:"Where security decisions (refused requests: who, route, decision, why) are written: stderr (default), stdout, a file path, or off."`
}

// JWTProvider is a source of JWT verification keys and the checks tokens
// must pass; routes refer to it by name.
type JWTProvider struct {
	Name       string   `yaml:"name" doc:"Unique name, referenced by routes[].auth.jwt. Required."`
	Algorithms []string `yaml:"algorithms" doc:"Accepted signature algorithms: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA HS256 HS384 HS512. Required: the token's own header never chooses."`
	JWKSURLs   []string `yaml:"jwks_urls" doc:"JWKS documents to fetch keys from (refreshed in the background; an unknown kid triggers a rate-limited refresh)."`
	KeyFiles   []string `yaml:"key_files" doc:"PEM public keys or certificates, or JWK/JWKS JSON files."`
	Secrets    []string `yaml:"secrets" secret:"true" doc:"HMAC secrets for HS* algorithms; write them as ${ENV} references."`
	Issuers    []string `yaml:"issuers" doc:"Accepted iss values. Default: not checked."`
	Audiences  []string `yaml:"audiences" doc:"The token's aud must contain one of these. Default: not checked."`
	Leeway     Duration `yaml:"leeway" doc:"Clock skew allowed on exp, nbf and iat. Default 30s."`
	MaxAge     Duration `yaml:"max_age" doc:"If set, tokens issued (iat) longer ago are refused."`
	Refresh    Duration `yaml:"refresh" doc:"JWKS refresh period. Default 5m."`
}

// Store is the shared state backend: memory (one instance) or Redis
// (several Floodgate instances share tokens and, later, limits and quotas).
type Store struct {
	Redis *RedisStore `yaml:"redis" doc:"Use Redis. Default: in memory (state is per instance and lost on restart)."`
}

// RedisStore configures the Redis connection.
type RedisStore struct {
	Address  string `yaml:"address" doc:"host:port of the Redis server. Required."`
	Username string `yaml:"username" doc:"ACL user name (Redis 6+)."`
	Password string `yaml:"password" secret:"true" doc:"Password; write it as a ${ENV} reference."`
	DB       int    `yaml:"db" doc:"Database number. Default 0."`
	Prefix   string `yaml:"prefix" doc:"Prefix of every key; instances that share state need the same one. Default floodgate:."`
}

// TokenService makes Floodgate an OAuth2 authorization server.
type TokenService struct {
	Listeners   []string       `yaml:"listeners" doc:"Listeners serving /oauth2/token, /oauth2/revoke, /oauth2/introspect and /.well-known/jwks.json (ahead of routes). Default: all."`
	Issuer      string         `yaml:"issuer" doc:"The tokens' issuer (iss), e.g. https://api.example.com. Required."`
	Kind        string         `yaml:"kind" doc:"jwt (signed, verifiable by anyone with the JWKS; revocation by jti) or opaque (random, looked up in the store, revocable at once). Default jwt." enum:"jwt,opaque"`
	TTL         Duration       `yaml:"ttl" doc:"Token lifetime. Default 1h."`
	Clients     []TokenClient  `yaml:"clients" doc:"OAuth2 clients for the client_credentials grant."`
	Delegated   *DelegatedAuth `yaml:"delegated" doc:"Password grant: Floodgate checks a user's credentials with this backend service and issues a token for the identity it returns."`
	SigningKeys []string       `yaml:"signing_keys" doc:"PEM private keys (RSA, ECDSA P-256, Ed25519) for jwt tokens; the first signs, all are published. Default: a key generated at start (one instance only)."`
}

// TokenClient is an OAuth2 client.
type TokenClient struct {
	ID         string   `yaml:"id" doc:"client_id. Required."`
	SecretHash string   `yaml:"secret_hash" secret:"true" doc:"sha256:<hex> of the client secret (floodgate hash-key prints it). Required."`
	Roles      []string `yaml:"roles" doc:"Roles put in the client's tokens."`
	Scopes     []string `yaml:"scopes" doc:"Scopes the client may request."`
}

// DelegatedAuth is the backend that checks user credentials.
type DelegatedAuth struct {
	URL     string   `yaml:"url" doc:"POST {username, password} as JSON; 200 {sub, roles, scopes} = authenticated, 401/403 = refused. Required."`
	Timeout Duration `yaml:"timeout" doc:"Default 5s."`
}

// RouteAuth is a route's access control.
type RouteAuth struct {
	Mode               string            `yaml:"mode" doc:"How the authenticators combine: any (default: the first credential presented decides) or all (every one must succeed)." enum:"any,all"`
	APIKey             *APIKeyAuth       `yaml:"api_key" doc:"Accept consumers' API keys."`
	JWT                string            `yaml:"jwt" doc:"Accept Bearer JWTs verified by this jwt_providers entry."`
	Token              bool              `yaml:"token" doc:"Accept Bearer tokens issued by Floodgate's token_service."`
	ClientCA           string            `yaml:"client_ca" doc:"With mtls: PEM bundle of the CAs this route trusts for client certificates (the listener then uses client_auth: request_any). Default: the listener's verification."`
	MTLS               bool              `yaml:"mtls" doc:"Accept client certificates verified by the listener's client_ca; the certificate's names map to a consumer (consumers[].certificates), else the subject common name is the caller with no roles."`
	Rules              []AuthRule        `yaml:"rules" doc:"RBAC: the first rule whose paths (and methods) match the normalized request path decides. Without rules any authenticated caller passes."`
	DenyByDefault      bool              `yaml:"deny_by_default" doc:"Refuse requests no rule matches (401 anonymous, 403 authenticated). Default false."`
	IP                 *IPRules          `yaml:"ip" doc:"Client address allow and deny lists."`
	Forward            map[string]string `yaml:"forward" doc:"Headers set on the upstream request from the caller's identity: consumer, subject, roles, or claim:<name> (e.g. X-User: claim:sub). Client-sent headers of these names are removed."`
	StripAuthorization bool              `yaml:"strip_authorization" doc:"Remove the Authorization header before proxying. Default false."`
}

// APIKeyAuth says where API keys are read.
type APIKeyAuth struct {
	Header string `yaml:"header" doc:"Header carrying the key. Default X-API-Key (when query is not set)."`
	Query  string `yaml:"query" doc:"Query parameter carrying the key (keys in URLs end up in logs: prefer the header)."`
}

// AuthRule is one RBAC rule.
type AuthRule struct {
	Paths   []string `yaml:"paths" doc:"Path globs on the normalized path: * is one segment, a final /** any rest (/service/admin/** covers /service/admin and below). Required."`
	Methods []string `yaml:"methods" doc:"Methods the rule applies to. Default: all."`
	Roles   []string `yaml:"roles" doc:"The caller needs one of these roles. Exactly one of roles and public."`
	Public  bool     `yaml:"public" doc:"No authentication needed. Exactly one of roles and public."`
}

// IPRules are CIDR allow and deny lists.
type IPRules struct {
	Allow []string `yaml:"allow" doc:"Only these addresses or CIDR prefixes (IPv4 and IPv6) may call. Default: all."`
	Deny  []string `yaml:"deny" doc:"These may not, even when allowed."`
}

var jwtAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512"}

// security validates consumers, jwt_providers, security and every route's auth.
func (v *validator) security(c *Config) {
	for _, p := range c.Security.TrustedProxies {
		if !validPrefix(p) {
			v.errorf("security.trusted_proxies", "%q is not an IP address or CIDR prefix", p)
		}
	}
	consumers := map[string]string{}
	keys := map[[32]byte]string{}
	for i, cs := range c.Consumers {
		p := IndexPath("consumers", i)
		switch {
		case cs.Name == "":
			v.errorf(p+".name", "required")
		case !validName(cs.Name):
			v.errorf(p+".name", "invalid name %q; %s", cs.Name, nameRule)
		case consumers[cs.Name] != "":
			v.errorf(p+".name", "duplicate consumer %q (also %s)", cs.Name, v.at(consumers[cs.Name]))
		default:
			consumers[cs.Name] = p
		}
		for j, k := range cs.APIKeys {
			kp := IndexPath(p+".api_keys", j)
			sum, err := auth.ParseKeyHash(k)
			if err != nil {
				v.errorf(kp, "want sha256:<64 hex digits>, the hash of the key (floodgate hash-key KEY prints it); keys are never written in clear")
				continue
			}
			if other := keys[sum]; other != "" {
				v.errorf(kp, "the same key as %s", v.at(other))
			}
			keys[sum] = kp
		}
	}
	providers := map[string]bool{}
	var providerNames []string
	for i, jp := range c.JWTProviders {
		p := IndexPath("jwt_providers", i)
		switch {
		case jp.Name == "":
			v.errorf(p+".name", "required")
		case !validName(jp.Name):
			v.errorf(p+".name", "invalid name %q; %s", jp.Name, nameRule)
		case providers[jp.Name]:
			v.errorf(p+".name", "duplicate jwt provider %q", jp.Name)
		default:
			providers[jp.Name] = true
			providerNames = append(providerNames, jp.Name)
		}
		if len(jp.Algorithms) == 0 {
			v.errorf(p+".algorithms", "required: list the accepted algorithms (e.g. [RS256])")
		}
		hmac, asym := false, false
		for j, a := range jp.Algorithms {
			if !slices.Contains(jwtAlgorithms, a) {
				v.errorf(IndexPath(p+".algorithms", j), "unknown algorithm %q; one of %s (\"none\" is never accepted)", a, strings.Join(jwtAlgorithms, ", "))
				continue
			}
			if strings.HasPrefix(a, "HS") {
				hmac = true
			} else {
				asym = true
			}
		}
		if hmac && len(jp.Secrets) == 0 {
			v.errorf(p+".secrets", "HS* algorithms need secrets")
		}
		if asym && len(jp.JWKSURLs) == 0 && len(jp.KeyFiles) == 0 {
			v.errorf(p, "asymmetric algorithms need jwks_urls or key_files")
		}
		for j, s := range jp.Secrets {
			if len(s) < 32 {
				v.errorf(IndexPath(p+".secrets", j), "an HMAC secret must be at least 32 bytes")
			}
		}
		for j, u := range jp.JWKSURLs {
			if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
				v.errorf(IndexPath(p+".jwks_urls", j), "%q is not an http(s) URL", u)
			}
		}
		for j, f := range jp.KeyFiles {
			v.readConfigFile(IndexPath(p+".key_files", j), f, maxPEMSize)
		}
		if jp.Leeway < 0 || jp.Leeway.D() > time.Hour {
			v.errorf(p+".leeway", "%s is out of range 0-1h", jp.Leeway)
		}
		if jp.Refresh != 0 && (jp.Refresh.D() < 10*time.Second || jp.Refresh.D() > 24*time.Hour) {
			v.errorf(p+".refresh", "%s is out of range 10s-24h", jp.Refresh)
		}
	}
	mtlsListener := false
	for _, l := range c.Listeners {
		if l.TLS != nil && (l.TLS.ClientAuth == "request" || l.TLS.ClientAuth == "require" || l.TLS.ClientAuth == "request_any") {
			mtlsListener = true
		}
	}
	for i, r := range c.Routes {
		if r.Auth != nil {
			if r.Auth.MTLS && !mtlsListener {
				v.errorf(IndexPath("routes", i)+".auth.mtls", "no listener asks for client certificates: set listeners[].tls.client_auth (and client_ca)")
			}
			if r.Auth.ClientCA != "" {
				if !r.Auth.MTLS {
					v.errorf(IndexPath("routes", i)+".auth.client_ca", "only used with mtls: true")
				}
				v.caFile(IndexPath("routes", i)+".auth.client_ca", r.Auth.ClientCA)
			}
			v.routeAuth(IndexPath("routes", i)+".auth", r.Auth, providerNames, len(c.Consumers) > 0)
			if r.Auth.Token && c.TokenService == nil {
				v.errorf(IndexPath("routes", i)+".auth.token", "no token_service is configured")
			}
		}
	}
	if r := c.Store.Redis; r != nil && r.Address == "" {
		v.errorf("store.redis.address", "required")
	}
	if ts := c.TokenService; ts != nil {
		v.tokenService(c, ts)
	}
}

func (v *validator) tokenService(c *Config, ts *TokenService) {
	p := "token_service"
	if ts.Issuer == "" {
		v.errorf(p+".issuer", "required, e.g. https://api.example.com")
	}
	if len(ts.Clients) == 0 && ts.Delegated == nil {
		v.errorf(p, "set clients, delegated or both: nobody could obtain a token")
	}
	if ts.TTL != 0 && (ts.TTL.D() < time.Second || ts.TTL.D() > 30*24*time.Hour) {
		v.errorf(p+".ttl", "%s is out of range 1s-720h", ts.TTL)
	}
	seen := map[string]bool{}
	for i, cl := range ts.Clients {
		cp := IndexPath(p+".clients", i)
		if cl.ID == "" {
			v.errorf(cp+".id", "required")
		} else if seen[cl.ID] {
			v.errorf(cp+".id", "duplicate client %q", cl.ID)
		}
		seen[cl.ID] = true
		if _, err := auth.ParseKeyHash(cl.SecretHash); err != nil {
			v.errorf(cp+".secret_hash", "want sha256:<64 hex digits> (floodgate hash-key prints it); secrets are never written in clear")
		}
	}
	if d := ts.Delegated; d != nil {
		if u, err := url.Parse(d.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf(p+".delegated.url", "%q is not an http(s) URL", d.URL)
		}
	}
	for i, f := range ts.SigningKeys {
		v.readConfigFile(IndexPath(p+".signing_keys", i), f, maxPEMSize)
	}
	names := map[string]bool{}
	for _, l := range c.Listeners {
		names[l.Name] = true
		names[l.Address] = true
	}
	for i, l := range ts.Listeners {
		if !names[l] {
			v.errorf(IndexPath(p+".listeners", i), "unknown listener %q", l)
		}
	}
}

func (v *validator) routeAuth(p string, a *RouteAuth, providers []string, haveConsumers bool) {
	if a.JWT != "" && !slices.Contains(providers, a.JWT) {
		v.errorf(p+".jwt", "unknown jwt provider %q%s", a.JWT, v.didYouMean(a.JWT, providers))
	}
	if a.APIKey != nil && !haveConsumers {
		v.errorf(p+".api_key", "no consumers are configured: API keys belong to consumers")
	}
	n := 0
	for _, on := range []bool{a.APIKey != nil, a.JWT != "", a.Token, a.MTLS} {
		if on {
			n++
		}
	}
	if a.Mode == "all" && n < 2 {
		v.errorf(p+".mode", "all needs at least two authenticators (api_key, jwt, token, mtls)")
	}
	if a.JWT != "" && a.Token {
		v.errorf(p+".token", "jwt and token both read Bearer tokens: use one of them per route")
	}
	if n == 0 && len(a.Rules) > 0 {
		for i, r := range a.Rules {
			if len(r.Roles) > 0 {
				v.errorf(IndexPath(p+".rules", i)+".roles", "roles need an authenticator (api_key or jwt) on this route")
				break
			}
		}
	}
	for i, r := range a.Rules {
		rp := IndexPath(p+".rules", i)
		if len(r.Paths) == 0 {
			v.errorf(rp+".paths", "required")
		}
		for j, g := range r.Paths {
			if err := auth.CheckGlob(g); err != nil {
				v.errorf(IndexPath(rp+".paths", j), "%v", err)
			}
		}
		if r.Public == (len(r.Roles) > 0) {
			v.errorf(rp, "set exactly one of roles and public")
		}
		for j, m := range r.Methods {
			if !validToken(m) {
				v.errorf(IndexPath(rp+".methods", j), "%q is not an HTTP method", m)
			}
		}
	}
	if a.IP != nil {
		for _, l := range []struct {
			name string
			list []string
		}{{"allow", a.IP.Allow}, {"deny", a.IP.Deny}} {
			for j, s := range l.list {
				if !validPrefix(s) {
					v.errorf(IndexPath(p+".ip."+l.name, j), "%q is not an IP address or CIDR prefix", s)
				}
			}
		}
	}
	for h, from := range a.Forward {
		hp := KeyPath(p+".forward", h)
		if !validToken(h) {
			v.errorf(hp, "%q is not a header name", h)
		}
		switch {
		case from == "consumer", from == "subject", from == "roles":
		case strings.HasPrefix(from, "claim:") && len(from) > len("claim:"):
			if a.JWT == "" && !a.Token {
				v.errorf(hp, "claims come from a token: set jwt or token on this route")
			}
		default:
			v.errorf(hp, "%q: want consumer, subject, roles or claim:<name>", from)
		}
		if http.CanonicalHeaderKey(h) == "Authorization" || http.CanonicalHeaderKey(h) == "Host" {
			v.errorf(hp, "%s cannot be set from the identity", h)
		}
	}
}

// validPrefix uses the parser the IP rules run with.
func validPrefix(s string) bool {
	_, err := auth.ParsePrefixes([]string{s})
	return err == nil
}

// validToken reports whether s is an RFC 9110 token (header names, methods).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}
