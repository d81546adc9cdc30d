package token

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenEndpointHostileInput(t *testing.T) {
	e := newEnv(t, Config{Clients: testClients()})
	cc := url.Values{"grant_type": {"client_credentials"}}

	t.Run("methods", func(t *testing.T) {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodHead} {
			for _, p := range []string{PathToken, PathRevoke, PathIntrospect} {
				req, _ := http.NewRequest(m, e.url(p)+"?grant_type=client_credentials", nil)
				req.SetBasicAuth(readerID, readerSecret)
				r := do(t, req)
				if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
					t.Fatalf("%s %s: %d Allow=%q", m, p, r.status, r.header.Get("Allow"))
				}
			}
		}
	})

	t.Run("huge body", func(t *testing.T) {
		big := cc.Encode() + "&pad=" + strings.Repeat("x", 1<<20)
		// With a Content-Length.
		req, _ := http.NewRequest(http.MethodPost, e.url(PathToken), strings.NewReader(big))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(readerID, readerSecret)
		wantOAuthError(t, do(t, req), http.StatusRequestEntityTooLarge, "invalid_request")
		// Chunked, no Content-Length.
		req, _ = http.NewRequest(http.MethodPost, e.url(PathToken), io.MultiReader(strings.NewReader(big)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(readerID, readerSecret)
		if req.ContentLength != 0 {
			t.Fatal("expected an unknown length")
		}
		wantOAuthError(t, do(t, req), http.StatusRequestEntityTooLarge, "invalid_request")
	})

	t.Run("content type", func(t *testing.T) {
		for _, ct := range []string{"", "application/json", "multipart/form-data; boundary=x", "text/plain"} {
			req, _ := http.NewRequest(http.MethodPost, e.url(PathToken), strings.NewReader(cc.Encode()))
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			req.SetBasicAuth(readerID, readerSecret)
			wantOAuthError(t, do(t, req), http.StatusBadRequest, "invalid_request")
		}
		// With a charset parameter it is fine.
		req, _ := http.NewRequest(http.MethodPost, e.url(PathToken), strings.NewReader(cc.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
		req.SetBasicAuth(readerID, readerSecret)
		if r := do(t, req); r.status != http.StatusOK {
			t.Fatalf("with charset: %d %s", r.status, r.raw)
		}
	})

	t.Run("grant_type", func(t *testing.T) {
		wantOAuthError(t, post(t, e.url(PathToken), url.Values{"scope": {"x"}}, readerID, readerSecret), http.StatusBadRequest, "invalid_request")
		wantOAuthError(t, post(t, e.url(PathToken), url.Values{"grant_type": {"authorization_code"}}, readerID, readerSecret), http.StatusBadRequest, "unsupported_grant_type")
		wantOAuthError(t, post(t, e.url(PathToken), url.Values{"grant_type": {"refresh_token"}}, readerID, readerSecret), http.StatusBadRequest, "unsupported_grant_type")
		// grant_type in the query string does not count.
		req, _ := http.NewRequest(http.MethodPost, e.url(PathToken)+"?grant_type=client_credentials", strings.NewReader(""))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(readerID, readerSecret)
		wantOAuthError(t, do(t, req), http.StatusBadRequest, "invalid_request")
	})

	t.Run("repeated parameter", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.url(PathToken), strings.NewReader("grant_type=client_credentials&grant_type=password"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(readerID, readerSecret)
		wantOAuthError(t, do(t, req), http.StatusBadRequest, "invalid_request")
	})

	t.Run("client authentication", func(t *testing.T) {
		check := func(r response) {
			t.Helper()
			wantOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
		}
		check(post(t, e.url(PathToken), cc, "", ""))                           // none
		check(post(t, e.url(PathToken), cc, "unknown", readerSecret))          // unknown client
		check(post(t, e.url(PathToken), cc, readerID, readerSecret+"x"))       // wrong secret
		check(post(t, e.url(PathToken), cc, readerID, ""))                     // empty secret
		check(post(t, e.url(PathToken), cc, otherID, readerSecret))            // another client's secret
		check(post(t, e.url(PathToken), withClient(cc, readerID, ""), "", "")) // client_id alone
		// Not form-urlencoded in Basic: "%zz" does not decode.
		req, _ := http.NewRequest(http.MethodPost, e.url(PathToken), strings.NewReader(cc.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("%zz", readerSecret)
		check(do(t, req))
		// Another scheme.
		req, _ = http.NewRequest(http.MethodPost, e.url(PathToken), strings.NewReader(cc.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer abc")
		check(do(t, req))
		// The raw (not urlencoded) weird id in Basic is a different id.
		req, _ = http.NewRequest(http.MethodPost, e.url(PathToken), strings.NewReader(cc.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("weird%3Aclient%2B1%25%2F%C3%A9:"+url.QueryEscape(weirdSecret))))
		if r := do(t, req); r.status != http.StatusOK {
			t.Fatalf("urlencoded weird id: %d %s", r.status, r.raw)
		}
		// client_secret_post works; both methods at once does not.
		if r := post(t, e.url(PathToken), withClient(cc, readerID, readerSecret), "", ""); r.status != http.StatusOK {
			t.Fatalf("client_secret_post: %d %s", r.status, r.raw)
		}
		wantOAuthError(t, post(t, e.url(PathToken), withClient(cc, readerID, readerSecret), readerID, readerSecret), http.StatusBadRequest, "invalid_request")
		// Basic with a different client_id in the form.
		f := withClient(cc, otherID, "")
		delete(f, "client_secret")
		wantOAuthError(t, post(t, e.url(PathToken), f, readerID, readerSecret), http.StatusBadRequest, "invalid_request")
		// Oversized id.
		check(post(t, e.url(PathToken), cc, strings.Repeat("a", 5000), readerSecret))
	})

	t.Run("scope", func(t *testing.T) {
		f := url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read \"bad"}}
		wantOAuthError(t, post(t, e.url(PathToken), f, readerID, readerSecret), http.StatusBadRequest, "invalid_scope")
		f.Set("scope", "billing") // another client's scope
		wantOAuthError(t, post(t, e.url(PathToken), f, readerID, readerSecret), http.StatusBadRequest, "invalid_scope")
		f.Set("scope", "orders:read  orders:read") // double space, duplicate
		r := post(t, e.url(PathToken), f, readerID, readerSecret)
		if r.status != http.StatusOK || r.str("scope") != "orders:read" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})

	t.Run("success response", func(t *testing.T) {
		r := post(t, e.url(PathToken), cc, readerID, readerSecret)
		if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" ||
			r.str("token_type") != "Bearer" || r.body["expires_in"] != float64(3600) || r.str("access_token") == "" ||
			r.str("scope") != "orders:read orders:write" {
			t.Fatalf("%d %v %s", r.status, r.header, r.raw)
		}
	})
}

func withClient(v url.Values, id, secret string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = vs
	}
	out.Set("client_id", id)
	if secret != "" {
		out.Set("client_secret", secret)
	}
	return out
}

func TestRevokeAndIntrospect(t *testing.T) {
	for _, kind := range []string{KindJWT, KindOpaque} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, Config{Kind: kind, Audience: "api", Clients: testClients()})
			tok := issueCC(t, e, readerID, readerSecret, "orders:write")

			// Client authentication is required for both.
			for _, p := range []string{PathRevoke, PathIntrospect} {
				wantOAuthError(t, post(t, e.url(p), url.Values{"token": {tok}}, "", ""), http.StatusUnauthorized, "invalid_client")
				wantOAuthError(t, post(t, e.url(p), url.Values{"token": {tok}}, readerID, "wrong"), http.StatusUnauthorized, "invalid_client")
				wantOAuthError(t, post(t, e.url(p), url.Values{}, readerID, readerSecret), http.StatusBadRequest, "invalid_request")
			}

			// Any authenticated client may introspect.
			r := post(t, e.url(PathIntrospect), url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, otherID, otherSecret)
			if r.status != http.StatusOK || r.body["active"] != true || r.str("sub") != readerID || r.str("client_id") != readerID ||
				r.str("scope") != "orders:write" || r.str("iss") != "https://floodgate.test" || r.str("aud") != "api" ||
				r.str("token_type") != "Bearer" || r.str("jti") == "" || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("introspection: %d %s", r.status, r.raw)
			}
			exp, iat := r.body["exp"].(float64), r.body["iat"].(float64)
			if exp-iat < 3599 || exp-iat > 3600 || time.Unix(int64(iat), 0).After(time.Now().Add(time.Second)) {
				t.Fatalf("exp %v iat %v", exp, iat)
			}
			for _, bad := range []string{"nonsense", strings.Repeat("A", 43), "a.b.c", strings.Repeat("x", 10000)} {
				r := post(t, e.url(PathIntrospect), url.Values{"token": {bad}}, otherID, otherSecret)
				if r.status != http.StatusOK || r.body["active"] != false || len(r.body) != 1 {
					t.Fatalf("introspect %q: %d %s", bad[:min(len(bad), 20)], r.status, r.raw)
				}
			}

			// Only the client a token was issued to may revoke it.
			wantOAuthError(t, post(t, e.url(PathRevoke), url.Values{"token": {tok}}, otherID, otherSecret), http.StatusBadRequest, "unauthorized_client")
			if _, err := e.svc.Validate(bg(), tok); err != nil {
				t.Fatalf("refused revocation revoked anyway: %v", err)
			}
			r = post(t, e.url(PathRevoke), url.Values{"token": {tok}, "token_type_hint": {"refresh_token"}}, readerID, readerSecret)
			if r.status != http.StatusOK {
				t.Fatalf("revoke: %d %s", r.status, r.raw)
			}
			if _, err := e.svc.Validate(bg(), tok); err == nil {
				t.Fatal("revoked token still valid")
			}
			r = post(t, e.url(PathIntrospect), url.Values{"token": {tok}}, readerID, readerSecret)
			if r.body["active"] != false {
				t.Fatalf("introspection after revocation: %s", r.raw)
			}
			// Unknown tokens: 200 (RFC 7009 2.2).
			for _, bad := range []string{"nonsense", "a.b.c", strings.Repeat("A", 43)} {
				if r := post(t, e.url(PathRevoke), url.Values{"token": {bad}}, otherID, otherSecret); r.status != http.StatusOK {
					t.Fatalf("revoke %q: %d", bad, r.status)
				}
			}
		})
	}

	t.Run("no clients: revocation by the token holder, no introspection", func(t *testing.T) {
		backend, _ := authBackend(t)
		e := newEnv(t, Config{Kind: KindOpaque, Delegated: &Delegated{URL: backend.URL}})
		r := post(t, e.url(PathToken), passwordForm(userName, userPassword), "", "")
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		tok := r.str("access_token")
		wantOAuthError(t, post(t, e.url(PathIntrospect), url.Values{"token": {tok}}, "", ""), http.StatusUnauthorized, "invalid_client")
		if r := post(t, e.url(PathRevoke), url.Values{"token": {tok}}, "", ""); r.status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}
		if _, err := e.svc.Validate(bg(), tok); err == nil {
			t.Fatal("revoked token still valid")
		}
	})
}

// No client secret, user password or token is ever written to the logs,
// whatever happens (debug level, all flows, failures included).
func TestNoSecretsInLogs(t *testing.T) {
	backend, _ := authBackend(t)
	for _, kind := range []string{KindJWT, KindOpaque} {
		e := newEnv(t, Config{Kind: kind, Clients: testClients(), Delegated: &Delegated{URL: backend.URL + "/?api_key=backend-url-key", Timeout: 200 * time.Millisecond}})
		var tokens []string
		tokens = append(tokens, issueCC(t, e, readerID, readerSecret, ""), issueCC(t, e, weirdID, weirdSecret, ""))
		r := post(t, e.url(PathToken), passwordForm(userName, userPassword), readerID, readerSecret)
		tokens = append(tokens, r.str("access_token"))
		post(t, e.url(PathToken), passwordForm(userName, userPassword+"-typo"), readerID, readerSecret)
		post(t, e.url(PathToken), passwordForm("slow", userPassword), readerID, readerSecret)
		post(t, e.url(PathToken), url.Values{"grant_type": {"client_credentials"}}, readerID, readerSecret+"-typo")
		post(t, e.url(PathToken), url.Values{"grant_type": {"client_credentials"}}, "no-such-client", otherSecret)
		post(t, e.url(PathIntrospect), url.Values{"token": {tokens[0]}}, otherID, otherSecret)
		post(t, e.url(PathRevoke), url.Values{"token": {tokens[1]}}, otherID, otherSecret) // refused: not its token
		post(t, e.url(PathRevoke), url.Values{"token": {tokens[0]}}, readerID, readerSecret)
		logs := e.logs.String()
		if !strings.Contains(logs, "client authentication failed") || !strings.Contains(logs, "token revoked") {
			t.Fatalf("expected log lines missing:\n%s", logs)
		}
		for _, secret := range append([]string{readerSecret, weirdSecret, otherSecret, userPassword, "backend-url-key", url.QueryEscape(weirdSecret)}, tokens...) {
			if secret != "" && strings.Contains(logs, secret) {
				t.Fatalf("%s: the logs contain a secret or token %.12q…:\n%s", kind, secret, logs)
			}
		}
	}
}

func TestConfigErrors(t *testing.T) {
	good := Client{ID: "c", SecretHash: HashSecret("s")}
	cases := map[string]struct {
		cfg  Config
		want string
	}{
		"no issuer":      {Config{Clients: []Client{good}}, "issuer is required"},
		"bad kind":       {Config{Issuer: "i", Kind: "paseto", Clients: []Client{good}}, "kind"},
		"short ttl":      {Config{Issuer: "i", TTL: time.Millisecond, Clients: []Client{good}}, "at least 1s"},
		"nothing":        {Config{Issuer: "i"}, "no clients and no delegated flow"},
		"plain secret":   {Config{Issuer: "i", Clients: []Client{{ID: "c", SecretHash: "hunter2"}}}, "sha256:"},
		"short hash":     {Config{Issuer: "i", Clients: []Client{{ID: "c", SecretHash: "sha256:abcd"}}}, "64 hex digits"},
		"no id":          {Config{Issuer: "i", Clients: []Client{{SecretHash: HashSecret("s")}}}, "id is required"},
		"duplicate id":   {Config{Issuer: "i", Clients: []Client{good, good}}, "duplicate id"},
		"bad scope":      {Config{Issuer: "i", Clients: []Client{{ID: "c", SecretHash: HashSecret("s"), Scopes: []string{"a b"}}}}, "scope"},
		"delegated url":  {Config{Issuer: "i", Delegated: &Delegated{URL: "ftp://x"}}, "http or https"},
		"delegated none": {Config{Issuer: "i", Delegated: &Delegated{}}, "url is required"},
		"keys on opaque": {Config{Issuer: "i", Kind: KindOpaque, Clients: []Client{good}, SigningKeyFiles: []string{"k.pem"}}, "jwt kind only"},
	}
	for name, c := range cases {
		_, err := New(c.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, c.want)
		}
	}
	if HashSecret("abc") != "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatal("HashSecret is not hex SHA-256")
	}
	// Upper-case hex is accepted.
	svc, err := New(Config{Issuer: "i", Clients: []Client{{ID: "c", SecretHash: strings.ToUpper(HashSecret("s")[7:])}}}, nil)
	if err == nil {
		svc.Close()
		t.Fatal("hash without the sha256: prefix accepted")
	}
	svc, err = New(Config{Issuer: "i", Clients: []Client{{ID: "c", SecretHash: "sha256:" + strings.ToUpper(HashSecret("s")[7:])}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc.Close()
}
