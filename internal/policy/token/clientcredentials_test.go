package token

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// An unmodified golang.org/x/oauth2/clientcredentials client gets a token
// from the service over HTTP and calls a protected API with it.
func TestClientCredentialsWithOAuth2Library(t *testing.T) {
	for _, kind := range []string{KindJWT, KindOpaque} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, Config{Kind: kind, Clients: testClients()})
			api := protectedAPI(t, e.svc)

			styles := map[string]oauth2.AuthStyle{
				"basic":      oauth2.AuthStyleInHeader,
				"post":       oauth2.AuthStyleInParams,
				"autodetect": oauth2.AuthStyleAutoDetect,
			}
			for name, style := range styles {
				t.Run(name, func(t *testing.T) {
					for _, c := range []struct{ id, secret string }{{readerID, readerSecret}, {weirdID, weirdSecret}} {
						cc := &clientcredentials.Config{
							ClientID:     c.id,
							ClientSecret: c.secret,
							TokenURL:     e.url(PathToken),
							AuthStyle:    style,
						}
						tok, err := cc.Token(bg())
						if err != nil {
							t.Fatalf("%s: Token: %v", c.id, err)
						}
						if tok.TokenType != "Bearer" || tok.Expiry.IsZero() || !tok.Valid() {
							t.Fatalf("%s: token %+v", c.id, tok)
						}
						resp, err := cc.Client(bg()).Get(api.URL + "/orders")
						if err != nil {
							t.Fatal(err)
						}
						var id Identity
						json.NewDecoder(resp.Body).Decode(&id)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							t.Fatalf("%s: protected API answered %d", c.id, resp.StatusCode)
						}
						if id.Subject != c.id || id.ClientID != c.id {
							t.Fatalf("%s: identity %+v", c.id, id)
						}
					}
				})
			}

			t.Run("identity and scopes", func(t *testing.T) {
				cc := &clientcredentials.Config{ClientID: readerID, ClientSecret: readerSecret, TokenURL: e.url(PathToken)}
				tok, err := cc.Token(bg())
				if err != nil {
					t.Fatal(err)
				}
				id, err := e.svc.Validate(bg(), tok.AccessToken)
				if err != nil {
					t.Fatal(err)
				}
				// No scope requested: all the client's scopes.
				if !slices.Equal(id.Scopes, []string{"orders:read", "orders:write"}) || !slices.Equal(id.Roles, []string{"service"}) {
					t.Fatalf("identity %+v", id)
				}
				if got := tok.Extra("scope"); got != "orders:read orders:write" {
					t.Fatalf("response scope = %v", got)
				}
				if !id.HasScope("orders:write") || !id.HasRole("service") || id.HasScope("admin") {
					t.Fatal("HasScope/HasRole")
				}

				// A subset.
				cc.Scopes = []string{"orders:read"}
				tok, err = cc.Token(bg())
				if err != nil {
					t.Fatal(err)
				}
				id, err = e.svc.Validate(bg(), tok.AccessToken)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(id.Scopes, []string{"orders:read"}) || tok.Extra("scope") != "orders:read" {
					t.Fatalf("subset: identity scopes %v, response scope %v", id.Scopes, tok.Extra("scope"))
				}

				// Not a subset.
				cc.Scopes = []string{"orders:read", "admin"}
				_, err = cc.Token(bg())
				wantRetrieveError(t, err, http.StatusBadRequest, "invalid_scope")
			})

			t.Run("wrong secret", func(t *testing.T) {
				for _, style := range styles {
					cc := &clientcredentials.Config{ClientID: readerID, ClientSecret: "wrong", TokenURL: e.url(PathToken), AuthStyle: style}
					_, err := cc.Token(bg())
					wantRetrieveError(t, err, http.StatusUnauthorized, "invalid_client")
				}
				cc := &clientcredentials.Config{ClientID: "nobody", ClientSecret: readerSecret, TokenURL: e.url(PathToken)}
				_, err := cc.Token(bg())
				wantRetrieveError(t, err, http.StatusUnauthorized, "invalid_client")
			})

			t.Run("protected API refuses other tokens", func(t *testing.T) {
				for _, bad := range []string{"", "garbage", "a.b.c", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
					req, _ := http.NewRequest(http.MethodGet, api.URL, nil)
					req.Header.Set("Authorization", "Bearer "+bad)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusUnauthorized {
						t.Fatalf("token %q: %d", bad, resp.StatusCode)
					}
				}
			})
		})
	}
}

func wantRetrieveError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T), want *oauth2.RetrieveError", err, err)
	}
	if re.Response.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("got %d %q (%s), want %d %q", re.Response.StatusCode, re.ErrorCode, re.Body, status, code)
	}
}
