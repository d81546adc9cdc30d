package token

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const (
	userName     = "alice"
	userPassword = "correct horse battery staple"
)

// authBackend is a backend authentication service following the contract
// in the package doc. Special usernames make it misbehave.
func authBackend(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("backend called with %s, Content-Type %q", r.Method, r.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var creds struct{ Username, Password string }
		if err := json.NewDecoder(r.Body).Decode(&creds); err != nil {
			t.Errorf("backend: bad JSON: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		switch creds.Username {
		case "slow":
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
			return
		case "huge":
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(`{"sub":"huge","roles":["` + strings.Repeat("r", maxBackendBody) + `"]}`))
			return
		case "broken":
			w.WriteHeader(http.StatusInternalServerError)
			return
		case "nosub":
			w.Write([]byte(`{"roles":["x"]}`))
			return
		case "notjson":
			w.Write([]byte(`<html>hello</html>`))
			return
		case "badscope":
			w.Write([]byte(`{"sub":"u","scopes":["has space"]}`))
			return
		case "redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
			return
		case "forbidden":
			w.WriteHeader(http.StatusForbidden)
			return
		}
		if creds.Username != userName || creds.Password != userPassword {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"sub":    "user-42",
			"roles":  []string{"admin", "ops"},
			"scopes": []string{"orders:read", "orders:write", "admin"},
		})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func passwordForm(user, pass string) url.Values {
	return url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}}
}

func TestDelegatedFlow(t *testing.T) {
	backend, calls := authBackend(t)
	for _, kind := range []string{KindJWT, KindOpaque} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, Config{
				Kind:      kind,
				Clients:   testClients(),
				Delegated: &Delegated{URL: backend.URL + "/check", Timeout: 300 * time.Millisecond},
			})

			t.Run("good credentials with x/oauth2", func(t *testing.T) {
				oc := &oauth2.Config{ClientID: readerID, ClientSecret: readerSecret, Endpoint: oauth2.Endpoint{TokenURL: e.url(PathToken)}}
				tok, err := oc.PasswordCredentialsToken(bg(), userName, userPassword)
				if err != nil {
					t.Fatal(err)
				}
				id, err := e.svc.Validate(bg(), tok.AccessToken)
				if err != nil {
					t.Fatal(err)
				}
				if id.Subject != "user-42" || id.ClientID != readerID || !slices.Equal(id.Roles, []string{"admin", "ops"}) ||
					!slices.Equal(id.Scopes, []string{"orders:read", "orders:write", "admin"}) {
					t.Fatalf("identity %+v", id)
				}
				// A protected API accepts it as the user.
				api := protectedAPI(t, e.svc)
				resp, err := oc.Client(bg(), tok).Get(api.URL)
				if err != nil {
					t.Fatal(err)
				}
				var got Identity
				json.NewDecoder(resp.Body).Decode(&got)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || got.Subject != "user-42" {
					t.Fatalf("protected API: %d %+v", resp.StatusCode, got)
				}
			})

			t.Run("scope subset of the backend's", func(t *testing.T) {
				f := passwordForm(userName, userPassword)
				f.Set("scope", "orders:read")
				r := post(t, e.url(PathToken), f, readerID, readerSecret)
				if r.status != http.StatusOK || r.str("scope") != "orders:read" {
					t.Fatalf("%d %s", r.status, r.raw)
				}
				f.Set("scope", "orders:read billing")
				wantOAuthError(t, post(t, e.url(PathToken), f, readerID, readerSecret), http.StatusBadRequest, "invalid_scope")
			})

			t.Run("bad credentials", func(t *testing.T) {
				wantOAuthError(t, post(t, e.url(PathToken), passwordForm(userName, "wrong"), readerID, readerSecret), http.StatusBadRequest, "invalid_grant")
				wantOAuthError(t, post(t, e.url(PathToken), passwordForm("forbidden", "x"), readerID, readerSecret), http.StatusBadRequest, "invalid_grant")
				oc := &oauth2.Config{ClientID: readerID, ClientSecret: readerSecret, Endpoint: oauth2.Endpoint{TokenURL: e.url(PathToken)}}
				_, err := oc.PasswordCredentialsToken(bg(), "mallory", "guess")
				wantRetrieveError(t, err, http.StatusBadRequest, "invalid_grant")
			})

			t.Run("backend failures are 503 temporarily_unavailable", func(t *testing.T) {
				for _, user := range []string{"slow", "huge", "broken", "nosub", "notjson", "badscope", "redirect"} {
					start := time.Now()
					r := post(t, e.url(PathToken), passwordForm(user, "pw"), readerID, readerSecret)
					if r.status != http.StatusServiceUnavailable || r.str("error") != "temporarily_unavailable" {
						t.Fatalf("%s: %d %s", user, r.status, r.raw)
					}
					if el := time.Since(start); el > 2*time.Second {
						t.Fatalf("%s: answered after %s, the timeout is 300ms", user, el)
					}
				}
			})

			t.Run("client must authenticate when clients are configured", func(t *testing.T) {
				before := calls.Load()
				wantOAuthError(t, post(t, e.url(PathToken), passwordForm(userName, userPassword), "", ""), http.StatusUnauthorized, "invalid_client")
				wantOAuthError(t, post(t, e.url(PathToken), passwordForm(userName, userPassword), readerID, "wrong"), http.StatusUnauthorized, "invalid_client")
				if calls.Load() != before {
					t.Fatal("the backend was called for an unauthenticated client")
				}
			})

			t.Run("missing username or password", func(t *testing.T) {
				wantOAuthError(t, post(t, e.url(PathToken), passwordForm(userName, ""), readerID, readerSecret), http.StatusBadRequest, "invalid_request")
				wantOAuthError(t, post(t, e.url(PathToken), passwordForm("", "pw"), readerID, readerSecret), http.StatusBadRequest, "invalid_request")
			})
		})
	}

	t.Run("backend down", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL := dead.URL
		dead.Close()
		e := newEnv(t, Config{Delegated: &Delegated{URL: deadURL, Timeout: time.Second}})
		wantOAuthError(t, post(t, e.url(PathToken), passwordForm(userName, userPassword), "", ""), http.StatusServiceUnavailable, "temporarily_unavailable")
	})

	t.Run("public clients when no clients are configured", func(t *testing.T) {
		e := newEnv(t, Config{Delegated: &Delegated{URL: backend.URL}})
		// x/oauth2 with a client_id and no secret (a public client).
		oc := &oauth2.Config{ClientID: "spa", Endpoint: oauth2.Endpoint{TokenURL: e.url(PathToken), AuthStyle: oauth2.AuthStyleInParams}}
		tok, err := oc.PasswordCredentialsToken(bg(), userName, userPassword)
		if err != nil {
			t.Fatal(err)
		}
		id, err := e.svc.Validate(bg(), tok.AccessToken)
		if err != nil || id.Subject != "user-42" || id.ClientID != "" {
			t.Fatalf("%+v %v", id, err)
		}
		// client_credentials needs a client: there is none.
		wantOAuthError(t, post(t, e.url(PathToken), url.Values{"grant_type": {"client_credentials"}}, "spa", "x"), http.StatusUnauthorized, "invalid_client")
	})

	t.Run("password grant not enabled", func(t *testing.T) {
		e := newEnv(t, Config{Clients: testClients()})
		wantOAuthError(t, post(t, e.url(PathToken), passwordForm(userName, userPassword), readerID, readerSecret), http.StatusBadRequest, "unsupported_grant_type")
	})
}
