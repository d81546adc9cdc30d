package balance

import (
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"sync/atomic"
)

// Affinity is cookie-based session affinity ("sticky sessions") around
// another balancer: a request whose cookie names an eligible endpoint goes
// there; any other request (no cookie, an unknown or departed endpoint, or
// a retry that already tried it) is balanced by the base balancer, and the
// proxy then sets the cookie to the chosen endpoint (CookieValue), unless
// Sticky says it is already set.
//
// The cookie holds the endpoint's ID as 16 hex digits. IDs are hashes of
// target addresses, the same in every Floodgate instance and across
// reloads, so any instance honours a cookie set by another. The cookie
// reveals nothing but that hash; it is not a security boundary either (a
// client may pick its backend by forging one, among eligible endpoints
// only).
//
// Compared with consistent hashing (Maglev), affinity keeps a client on
// its endpoint even when other endpoints join or leave, and moves it only
// when its own endpoint leaves.
type Affinity struct {
	name string
	base Balancer
	byID atomic.Pointer[map[uint64]Endpoint]
}

var _ Balancer = (*Affinity)(nil)

// NewAffinity returns session affinity by the cookie called cookie, with
// base (nil: NewP2C(nil)) choosing for requests that have none.
func NewAffinity(cookie string, base Balancer) *Affinity {
	if base == nil {
		base = NewP2C(nil)
	}
	return &Affinity{name: cookie, base: base}
}

// CookieName is the name of the affinity cookie.
func (a *Affinity) CookieName() string { return a.name }

// CookieValue is the value of the affinity cookie that sends a client to
// ep: its ID in 16 lowercase hex digits.
func (a *Affinity) CookieValue(ep Endpoint) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], ep.ID())
	return hex.EncodeToString(b[:])
}

// Sticky reports whether r's affinity cookie already names ep, so that the
// proxy need not set it again.
func (a *Affinity) Sticky(r *http.Request, ep Endpoint) bool {
	id, ok := a.cookieID(r)
	return ok && ep != nil && id == ep.ID()
}

func (a *Affinity) Update(eps []Endpoint) {
	m := make(map[uint64]Endpoint, len(eps))
	for _, ep := range eps {
		m[ep.ID()] = ep
	}
	a.byID.Store(&m)
	a.base.Update(eps)
}

func (a *Affinity) Pick(r *http.Request, skip *Skip) Endpoint {
	if id, ok := a.cookieID(r); ok && !skip.Has(id) {
		if m := a.byID.Load(); m != nil {
			if ep := (*m)[id]; ep != nil {
				return ep
			}
		}
	}
	return a.base.Pick(r, skip)
}

// cookieID parses r's affinity cookie.
func (a *Affinity) cookieID(r *http.Request) (uint64, bool) {
	if r == nil {
		return 0, false
	}
	v, ok := cookieValue(r.Header, a.name)
	if !ok {
		return 0, false
	}
	return parseID(v)
}

// parseID parses exactly 16 hex digits (either case) without allocating.
func parseID(s string) (uint64, bool) {
	if len(s) != 16 {
		return 0, false
	}
	var id uint64
	for i := 0; i < len(s); i++ {
		d, ok := unhex(s[i])
		if !ok {
			return 0, false
		}
		id = id<<4 | uint64(d)
	}
	return id, true
}
