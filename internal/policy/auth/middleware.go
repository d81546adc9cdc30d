package auth

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/floodgate/floodgate/internal/httperr"
	"github.com/floodgate/floodgate/internal/reqctx"
)

// Forward is one identity field forwarded to the upstream as a header.
type Forward struct {
	Header string // canonical header name
	// From: "consumer", "subject", "roles" (comma-separated) or
	// "claim:<name>" (a JWT or token claim, "a.b" for nested ones).
	From string
}

// Policy is a route's access control, compiled.
type Policy struct {
	Route   string
	IP      *IPRules
	Trusted Prefixes // proxies whose X-Forwarded-For is believed

	Mode           Mode
	Authenticators []Authenticator // none: anonymous requests (IP rules and public RBAC rules only)
	RBAC           *RBAC           // nil: any authenticated caller passes

	Forward            []Forward
	StripAuthorization bool

	Audit Auditor // nil: no audit events
}

// AuditEvent is a security decision worth recording.
type AuditEvent struct {
	Time      time.Time
	RequestID string
	Route     string
	ClientIP  netip.Addr
	Method    string
	Path      string
	Consumer  string // or subject
	Decision  string // ip_denied, unauthenticated, invalid_credentials, forbidden
	Reason    string
}

// Auditor records audit events. It must not block for long.
type Auditor interface{ Audit(AuditEvent) }

// SlogAuditor writes audit events as log records (msg "audit").
type SlogAuditor struct{ Logger *slog.Logger }

// Audit implements Auditor.
func (a SlogAuditor) Audit(e AuditEvent) {
	a.Logger.LogAttrs(context.Background(), slog.LevelInfo, "audit",
		slog.String("request_id", e.RequestID), slog.String("route", e.Route), slog.String("client_ip", e.ClientIP.String()),
		slog.String("method", e.Method), slog.String("path", e.Path), slog.String("consumer", e.Consumer),
		slog.String("decision", e.Decision), slog.String("reason", e.Reason))
}

// Wrap returns next behind the policy.
func (p *Policy) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, next) })
}

func (p *Policy) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	var ip netip.Addr
	if p.IP != nil || p.Audit != nil {
		ip = ClientIP(r, p.Trusted)
	}
	if p.IP != nil && !p.IP.Allowed(ip) {
		p.refuse(w, r, ip, nil, http.StatusForbidden, "ip_denied", "client address not allowed", "")
		return
	}
	var id *Identity
	if len(p.Authenticators) > 0 {
		got, err := Authenticate(r, p.Mode, p.Authenticators)
		switch e := err.(type) {
		case nil:
			id = got
		case *CredentialError:
			p.refuse(w, r, ip, nil, http.StatusUnauthorized, "invalid_credentials", e.Message, e.Scheme)
			return
		default: // no credentials: anonymous, which RBAC may still allow
		}
	}
	switch {
	case p.RBAC != nil:
		d, _ := p.RBAC.Decide(r.Method, r.URL.Path, id)
		switch d {
		case NeedIdentity:
			p.refuse(w, r, ip, nil, http.StatusUnauthorized, "unauthenticated", "authentication required", "")
			return
		case Forbidden:
			p.refuse(w, r, ip, id, http.StatusForbidden, "forbidden", "not allowed for this caller", "")
			return
		}
	case id == nil && len(p.Authenticators) > 0:
		p.refuse(w, r, ip, nil, http.StatusUnauthorized, "unauthenticated", "authentication required", "")
		return
	}
	p.forward(r, id)
	if id != nil {
		if st := reqctx.From(r.Context()); st != nil {
			st.Consumer = consumerName(id)
		}
	}
	next.ServeHTTP(w, r)
}

func consumerName(id *Identity) string {
	if id.Consumer != "" {
		return id.Consumer
	}
	return id.Subject
}

// forward sets the identity headers, removing whatever the client sent
// under those names first.
func (p *Policy) forward(r *http.Request, id *Identity) {
	for _, f := range p.Forward {
		delete(r.Header, f.Header)
		if id == nil {
			continue
		}
		var v string
		var ok bool
		switch {
		case f.From == "consumer":
			v, ok = id.Consumer, id.Consumer != ""
		case f.From == "subject":
			v, ok = id.Subject, id.Subject != ""
		case f.From == "roles":
			v, ok = strings.Join(id.Roles, ","), len(id.Roles) > 0
		case strings.HasPrefix(f.From, "claim:") && id.Claims != nil:
			v, ok = id.Claims(f.From[len("claim:"):])
		}
		if ok && validHeaderValue(v) {
			r.Header[f.Header] = []string{v}
		}
	}
	if p.StripAuthorization {
		delete(r.Header, "Authorization")
	}
}

// validHeaderValue refuses values a claim could use to inject headers.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func (p *Policy) refuse(w http.ResponseWriter, r *http.Request, ip netip.Addr, id *Identity, status int, decision, msg, scheme string) {
	reqID := ""
	if st := reqctx.From(r.Context()); st != nil {
		reqID = st.RequestID
	}
	if p.Audit != nil {
		e := AuditEvent{Time: time.Now(), RequestID: reqID, Route: p.Route, ClientIP: ip, Method: r.Method,
			Path: r.URL.Path, Decision: decision, Reason: msg}
		if id != nil {
			e.Consumer = consumerName(id)
		}
		p.Audit.Audit(e)
	}
	if status == http.StatusUnauthorized {
		for _, a := range p.Authenticators {
			s := a.Scheme()
			v := s + ` realm="floodgate"`
			if s == scheme && s == "Bearer" {
				v += `, error="invalid_token", error_description="` + quoteSafe(msg) + `"`
			}
			w.Header().Add("WWW-Authenticate", v)
		}
	}
	httperr.Write(w, status, msg, reqID)
}

// quoteSafe keeps a message usable inside a quoted-string.
func quoteSafe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 200; i++ {
		c := s[i]
		if c == '"' || c == '\\' || c < 0x20 || c >= 0x7f {
			c = ' '
		}
		b.WriteByte(c)
	}
	return b.String()
}
