package token

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
)

// maxBackendBody bounds the backend authentication service's response.
const maxBackendBody = 64 << 10

// backendUser is the backend's answer for good credentials.
type backendUser struct {
	Sub    string   `json:"sub"`
	Roles  []string `json:"roles"`
	Scopes []string `json:"scopes"`
}

// callBackend asks the backend authentication service to check a user's
// credentials (contract in the package doc). Neither the password nor the
// backend's URL (which may carry a key) is logged.
func (s *Service) callBackend(ctx context.Context, username, password string) (*backendUser, *oauthError) {
	d := s.cfg.Delegated
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	body, err := json.Marshal(struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}{username, password})
	if err != nil {
		return nil, errUnavailable
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		s.log.Error("delegated authentication: bad request", "err", err)
		return nil, errUnavailable
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "floodgate-token")
	resp, err := s.httpClient.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err // without the URL
		}
		s.log.Warn("delegated authentication: backend call failed (unreachable or timed out)", "err", err)
		return nil, errUnavailable
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBackendBody+1))
	if err != nil {
		s.log.Warn("delegated authentication: reading the backend's response failed", "status", resp.StatusCode, "err", err)
		return nil, errUnavailable
	}
	if len(data) > maxBackendBody {
		s.log.Warn("delegated authentication: backend response too large", "status", resp.StatusCode, "limit", maxBackendBody)
		return nil, errUnavailable
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		s.log.Info("delegated authentication: credentials refused by the backend", "status", resp.StatusCode)
		return nil, errf(http.StatusBadRequest, "invalid_grant", "invalid username or password")
	default:
		s.log.Warn("delegated authentication: unexpected backend status", "status", resp.StatusCode)
		return nil, errUnavailable
	}
	var u backendUser
	if err := json.Unmarshal(data, &u); err != nil {
		s.log.Warn("delegated authentication: backend response is not the expected JSON", "err", err)
		return nil, errUnavailable
	}
	if u.Sub == "" || len(u.Sub) > maxParamLen {
		s.log.Warn("delegated authentication: backend response without a usable sub")
		return nil, errUnavailable
	}
	for _, sc := range u.Scopes {
		if !validScopeToken(sc) {
			s.log.Warn("delegated authentication: backend returned a malformed scope")
			return nil, errUnavailable
		}
	}
	for _, r := range u.Roles {
		if r == "" {
			s.log.Warn("delegated authentication: backend returned an empty role")
			return nil, errUnavailable
		}
	}
	u.Scopes = dedupe(u.Scopes)
	return &u, nil
}
