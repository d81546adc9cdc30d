// Package httperr formats the small JSON error bodies Floodgate sends when it
// answers on its own (bad requests, upstream failures, overload):
//
//	{"error":"bad_gateway","message":"upstream connection refused","request_id":"6f1c..."}
//
// One format everywhere lets clients and log pipelines parse every error the
// same way, whichever layer produced it.
package httperr

import (
	"net/http"
	"strconv"
	"unicode/utf8"
)

// Code returns the snake_case error code for an HTTP status.
func Code(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestTimeout:
		return "request_timeout"
	case http.StatusRequestEntityTooLarge:
		return "payload_too_large"
	case http.StatusExpectationFailed:
		return "expectation_failed"
	case http.StatusTooManyRequests:
		return "too_many_requests"
	case http.StatusRequestHeaderFieldsTooLarge:
		return "request_header_fields_too_large"
	case http.StatusInternalServerError:
		return "internal_error"
	case http.StatusNotImplemented:
		return "not_implemented"
	case http.StatusBadGateway:
		return "bad_gateway"
	case http.StatusServiceUnavailable:
		return "service_unavailable"
	case http.StatusGatewayTimeout:
		return "gateway_timeout"
	case http.StatusHTTPVersionNotSupported:
		return "http_version_not_supported"
	}
	return "error_" + strconv.Itoa(status)
}

// Body appends the JSON error body to dst.
func Body(dst []byte, status int, message, requestID string) []byte {
	dst = append(dst, `{"error":"`...)
	dst = append(dst, Code(status)...)
	dst = append(dst, `","message":`...)
	dst = AppendJSONString(dst, message)
	if requestID != "" {
		dst = append(dst, `,"request_id":`...)
		dst = AppendJSONString(dst, requestID)
	}
	return append(dst, "}\n"...)
}

// Write sends a JSON error response.
func Write(w http.ResponseWriter, status int, message, requestID string) {
	var buf [256]byte
	b := Body(buf[:0], status, message, requestID)
	h := w.Header()
	h["Content-Type"] = jsonCT
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var (
	jsonCT  = []string{"application/json"}
	noStore = []string{"no-store"}
)

// AppendJSONString appends s as a JSON string literal, escaping quotes,
// backslashes, control characters and invalid UTF-8.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
