package gateway

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/floodgate/floodgate/internal/config"
	"github.com/floodgate/floodgate/internal/policy/auth"
	"github.com/floodgate/floodgate/internal/policy/jwt"
	"github.com/floodgate/floodgate/internal/policy/token"
	"github.com/floodgate/floodgate/internal/store"
)

// securityRuntime keeps what outlives reloads: JWT verifiers (their JWKS
// caches and refresh loops) by provider name, and the audit log file.
type securityRuntime struct {
	mu        sync.Mutex
	verifiers map[string]*verifierEntry
	store     store.Store // shared state; kept while its configuration is unchanged
	storeCfg  config.Store
	tokens    *tokenEntry
	logger    *slog.Logger
	auditFile *os.File
	auditPath string
	// checkOnly (floodgate validate) makes no connection: the store is
	// in memory whatever the configuration says.
	checkOnly bool
}

type tokenEntry struct {
	cfg       config.TokenService
	svc       *token.Service
	listeners map[string]bool // nil: all
}

type verifierEntry struct {
	cfg    jwt.Config
	v      *jwt.Verifier
	cancel context.CancelFunc
}

// securityPlan is a prepared change: verifiers built for the new
// configuration (new ones not started), compiled consumers and the auditor.
type securityPlan struct {
	rt        *securityRuntime
	resolve   func(string) string // config-relative paths
	verifiers map[string]*verifierEntry
	fresh     []*verifierEntry
	consumers []auth.Consumer
	certNames []auth.CertConsumer
	trusted   auth.Prefixes
	audit     auth.Auditor
	auditFile *os.File // opened by this plan
	auditPath string

	store      store.Store
	storeCfg   config.Store
	freshStore bool
	tokens     *tokenEntry
	freshToken bool
}

func (rt *securityRuntime) prepare(cfg *config.Config, src *config.Source) (*securityPlan, config.Errors) {
	rt.mu.Lock()
	current := rt.verifiers
	rt.mu.Unlock()
	p := &securityPlan{rt: rt, verifiers: map[string]*verifierEntry{}, resolve: src.Resolve}
	var errs config.Errors
	for i, jp := range cfg.JWTProviders {
		jc := jwt.Config{Algorithms: jp.Algorithms, Issuers: jp.Issuers, Audiences: jp.Audiences, Leeway: jp.Leeway.D(),
			RequireExp: true, MaxAge: jp.MaxAge.D(), JWKSURLs: jp.JWKSURLs, Refresh: jp.Refresh.D()}
		for _, f := range jp.KeyFiles {
			jc.KeyFiles = append(jc.KeyFiles, src.Resolve(f))
		}
		for _, s := range jp.Secrets {
			jc.Secrets = append(jc.Secrets, jwt.Secret{Key: []byte(s)})
		}
		if old := current[jp.Name]; old != nil && reflect.DeepEqual(old.cfg, jc) {
			p.verifiers[jp.Name] = old
			continue
		}
		v, err := jwt.New(jc, rt.logger.With("jwt_provider", jp.Name))
		if err != nil {
			errs = append(errs, src.Errorf(config.IndexPath("jwt_providers", i), "%v", err))
			continue
		}
		e := &verifierEntry{cfg: jc, v: v}
		p.verifiers[jp.Name] = e
		p.fresh = append(p.fresh, e)
	}
	for _, c := range cfg.Consumers {
		p.consumers = append(p.consumers, auth.Consumer{Name: c.Name, Roles: c.Roles, KeyHashes: c.APIKeys})
	}
	for i, c := range cfg.Consumers {
		if len(c.Certificates) > 0 {
			p.certNames = append(p.certNames, auth.CertConsumer{Consumer: &p.consumers[i], Names: c.Certificates})
		}
	}
	p.trusted, _ = auth.ParsePrefixes(cfg.Security.TrustedProxies) // validated
	if err := p.openAudit(cfg.Security.AuditLog, src); err != nil {
		errs = append(errs, src.Errorf("security.audit_log", "%v", err))
	}
	if err := p.prepareTokens(cfg, src); err != nil {
		errs = append(errs, *err)
	}
	if len(errs) > 0 {
		p.Abort()
		return nil, errs
	}
	return p, nil
}

func (p *securityPlan) openAudit(out string, src *config.Source) error {
	switch out {
	case "off":
		return nil
	case "", "stderr":
		p.audit = auth.SlogAuditor{Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
		return nil
	case "stdout":
		p.audit = auth.SlogAuditor{Logger: slog.New(slog.NewJSONHandler(os.Stdout, nil))}
		return nil
	}
	path := src.Resolve(out)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	p.auditFile, p.auditPath = f, path
	p.audit = auth.SlogAuditor{Logger: slog.New(slog.NewJSONHandler(f, nil))}
	return nil
}

// prepareTokens keeps the store and the token service while their
// configuration is unchanged (memory-stored tokens survive reloads), else
// builds new ones.
func (p *securityPlan) prepareTokens(cfg *config.Config, src *config.Source) *config.Error {
	rt := p.rt
	rt.mu.Lock()
	curStore, curStoreCfg, curTokens := rt.store, rt.storeCfg, rt.tokens
	rt.mu.Unlock()
	if cfg.TokenService == nil {
		return nil
	}
	p.store, p.storeCfg = curStore, cfg.Store
	if curStore == nil || !reflect.DeepEqual(curStoreCfg, cfg.Store) {
		c := cfg.Store
		if rt.checkOnly {
			c = config.Store{}
		}
		st, err := openStore(c, rt.logger)
		if err != nil {
			e := src.Errorf("store.redis", "%v", err)
			return &e
		}
		p.store, p.freshStore = st, true
	}
	if curTokens != nil && !p.freshStore && reflect.DeepEqual(curTokens.cfg, *cfg.TokenService) {
		p.tokens = curTokens
		return nil
	}
	ts := cfg.TokenService
	tc := token.Config{Issuer: ts.Issuer, Kind: ts.Kind, TTL: ts.TTL.D(), Store: p.store}
	for _, c := range ts.Clients {
		tc.Clients = append(tc.Clients, token.Client{ID: c.ID, SecretHash: c.SecretHash, Roles: c.Roles, Scopes: c.Scopes})
	}
	if d := ts.Delegated; d != nil {
		tc.Delegated = &token.Delegated{URL: d.URL, Timeout: d.Timeout.D()}
	}
	for _, f := range ts.SigningKeys {
		tc.SigningKeyFiles = append(tc.SigningKeyFiles, src.Resolve(f))
	}
	svc, err := token.New(tc, rt.logger.With("component", "token_service"))
	if err != nil {
		e := src.Errorf("token_service", "%v", err)
		return &e
	}
	te := &tokenEntry{cfg: *ts, svc: svc}
	if len(ts.Listeners) > 0 {
		te.listeners = map[string]bool{}
		for _, l := range ts.Listeners {
			te.listeners[l] = true
		}
	}
	p.tokens, p.freshToken = te, true
	return nil
}

// openStore opens the configured store. Redis is opened lazily so that
// Floodgate starts while Redis is down (what needs it answers 503 until it
// is back); a first ping in the background says in the log whether it is
// reachable.
func openStore(c config.Store, logger *slog.Logger) (store.Store, error) {
	if r := c.Redis; r != nil {
		prefix := r.Prefix
		if prefix == "" {
			prefix = "floodgate:"
		}
		st, err := store.NewRedis(store.RedisOptions{Addr: r.Address, Username: r.Username, Password: r.Password, DB: r.DB, KeyPrefix: prefix, Lazy: true})
		if err != nil {
			return nil, err
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, _, err := st.Get(ctx, "ping"); err != nil {
				logger.Warn("redis store not reachable yet; tokens cannot be issued or checked until it is", "address", r.Address, "error", err)
			}
		}()
		return st, nil
	}
	return store.NewMemory(0), nil
}

// Commit starts new verifiers, closes replaced ones and swaps the audit file.
func (p *securityPlan) Commit() {
	rt := p.rt
	rt.mu.Lock()
	old := rt.verifiers
	rt.verifiers = p.verifiers
	oldFile := rt.auditFile
	rt.auditFile, rt.auditPath = p.auditFile, p.auditPath
	oldStore, oldTokens := rt.store, rt.tokens
	rt.store, rt.storeCfg, rt.tokens = p.store, p.storeCfg, p.tokens
	rt.mu.Unlock()
	if oldTokens != nil && oldTokens != p.tokens {
		_ = oldTokens.svc.Close()
	}
	if oldStore != nil && oldStore != p.store {
		// Requests that started on the old snapshot may still use it.
		time.AfterFunc(5*time.Second, func() { _ = oldStore.Close() })
	}
	for _, e := range p.fresh {
		ctx, cancel := context.WithCancel(context.Background())
		e.cancel = cancel
		go func() {
			if err := e.v.Start(ctx); err != nil && ctx.Err() == nil {
				rt.logger.Warn("JWKS not fetched yet; retrying in the background", "error", err)
			}
		}()
	}
	for name, e := range old {
		if p.verifiers[name] != e {
			e.close()
		}
	}
	if oldFile != nil {
		// Requests that loaded the old auditor may still write a line.
		time.AfterFunc(time.Second, func() { _ = oldFile.Close() })
	}
}

// Abort discards what the plan built.
func (p *securityPlan) Abort() {
	if p.freshToken {
		_ = p.tokens.svc.Close()
	}
	if p.freshStore {
		_ = p.store.Close()
	}
	for _, e := range p.fresh {
		e.close()
	}
	if p.auditFile != nil {
		_ = p.auditFile.Close()
	}
}

func (e *verifierEntry) close() {
	if e.cancel != nil {
		e.cancel()
	}
	e.v.Close()
}

// close stops every verifier (shutdown).
func (rt *securityRuntime) close() {
	rt.mu.Lock()
	vs := rt.verifiers
	rt.verifiers = nil
	f := rt.auditFile
	rt.auditFile = nil
	st, te := rt.store, rt.tokens
	rt.store, rt.tokens = nil, nil
	rt.mu.Unlock()
	if te != nil {
		_ = te.svc.Close()
	}
	if st != nil {
		_ = st.Close()
	}
	for _, e := range vs {
		e.close()
	}
	if f != nil {
		_ = f.Close()
	}
}

// policy compiles routes[i].auth.
func (p *securityPlan) policy(name string, a *config.RouteAuth) (*auth.Policy, error) {
	pol := &auth.Policy{Route: name, Trusted: p.trusted, Audit: p.audit, StripAuthorization: a.StripAuthorization}
	if a.Mode == "all" {
		pol.Mode = auth.AllOf
	}
	if k := a.APIKey; k != nil {
		header := k.Header
		if header == "" && k.Query == "" {
			header = "X-API-Key"
		}
		ak, err := auth.NewAPIKeys(header, k.Query, p.consumers)
		if err != nil {
			return nil, fmt.Errorf("api_key: %v", err)
		}
		pol.Authenticators = append(pol.Authenticators, ak)
	}
	if a.JWT != "" {
		e := p.verifiers[a.JWT]
		if e == nil {
			return nil, fmt.Errorf("jwt: unknown provider %q", a.JWT)
		}
		pol.Authenticators = append(pol.Authenticators, &auth.Bearer{Verify: jwtVerify(e.v)})
	}
	if a.MTLS {
		m := auth.NewMTLS(p.certNames)
		if a.ClientCA != "" {
			roots, err := loadCertPool(p.resolve(a.ClientCA))
			if err != nil {
				return nil, fmt.Errorf("client_ca: %v", err)
			}
			m.WithRoots(roots)
		}
		pol.Authenticators = append(pol.Authenticators, m)
	}
	if a.Token {
		if p.tokens == nil {
			return nil, fmt.Errorf("token: no token_service")
		}
		pol.Authenticators = append(pol.Authenticators, &auth.Bearer{Verify: tokenVerify(p.tokens.svc)})
	}
	if len(a.Rules) > 0 || a.DenyByDefault {
		rb := &auth.RBAC{DenyByDefault: a.DenyByDefault}
		for _, r := range a.Rules {
			rb.Rules = append(rb.Rules, auth.Rule{Paths: r.Paths, Methods: append([]string(nil), r.Methods...), Roles: r.Roles, Public: r.Public})
		}
		if err := rb.Compile(); err != nil {
			return nil, fmt.Errorf("rules: %v", err)
		}
		pol.RBAC = rb
	}
	if a.IP != nil {
		allow, err := auth.ParsePrefixes(a.IP.Allow)
		if err != nil {
			return nil, fmt.Errorf("ip.allow: %v", err)
		}
		deny, err := auth.ParsePrefixes(a.IP.Deny)
		if err != nil {
			return nil, fmt.Errorf("ip.deny: %v", err)
		}
		pol.IP = &auth.IPRules{Allow: allow, Deny: deny}
	}
	for _, h := range sortedKeys(a.Forward) {
		pol.Forward = append(pol.Forward, auth.Forward{Header: http.CanonicalHeaderKey(h), From: a.Forward[h]})
	}
	return pol, nil
}

func jwtVerify(v *jwt.Verifier) func(*http.Request, string) (*auth.Identity, error) {
	return func(_ *http.Request, token string) (*auth.Identity, error) {
		c, err := v.Verify(token, time.Now())
		if err != nil {
			return nil, err
		}
		return &auth.Identity{Subject: c.Subject, Roles: c.Roles(), Method: "jwt", Claims: c.Lookup}, nil
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func tokenVerify(svc *token.Service) func(*http.Request, string) (*auth.Identity, error) {
	return func(r *http.Request, tok string) (*auth.Identity, error) {
		id, err := svc.Validate(r.Context(), tok)
		if err != nil {
			return nil, err
		}
		roles := append(append([]string(nil), id.Roles...), id.Scopes...)
		claims := func(name string) (string, bool) {
			switch name {
			case "sub":
				return id.Subject, id.Subject != ""
			case "client_id":
				return id.ClientID, id.ClientID != ""
			case "scope":
				return strings.Join(id.Scopes, " "), len(id.Scopes) > 0
			case "jti":
				return id.TokenID, id.TokenID != ""
			}
			return "", false
		}
		return &auth.Identity{Consumer: id.ClientID, Subject: id.Subject, Roles: roles, Method: "token", Claims: claims}, nil
	}
}

// tokenHandler returns the token service's endpoints for listener, or nil.
func (p *securityPlan) tokenHandler(listener string) http.Handler {
	if p.tokens == nil || (p.tokens.listeners != nil && !p.tokens.listeners[listener]) {
		return nil
	}
	return p.tokens.svc.Handler()
}

// isTokenPath reports whether path is one of the token service's endpoints.
func isTokenPath(path string) bool {
	switch path {
	case token.PathToken, token.PathRevoke, token.PathIntrospect, token.PathJWKS:
		return true
	}
	return false
}

func loadCertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificates", path)
	}
	return pool, nil
}
