package discovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds the waits for events that normally come much sooner: it is
// reached only when a test fails, so it can afford to be generous to a
// loaded machine.
const wait = 5 * time.Second

// recorder runs a source and records what it reports.
type recorder struct {
	t      *testing.T
	mu     sync.Mutex
	ups    [][]Endpoint
	errs   []error
	ended  bool          // Run has returned
	notify chan struct{} // signalled on each report
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returns
}

// run starts src.Run and stops it at the end of the test, checking that it
// returns promptly.
func run(t *testing.T, src Source) *recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{t: t, notify: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		src.Run(ctx, r.update, r.onError)
		r.mu.Lock()
		r.ended = true
		r.mu.Unlock()
	}()
	t.Cleanup(r.stop)
	return r
}

// stop cancels Run and waits for it to return.
func (r *recorder) stop() {
	r.t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(wait):
		r.t.Fatalf("Run did not return within %s of its context ending", wait)
	}
}

func (r *recorder) update(eps []Endpoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		r.t.Errorf("update after Run returned: %v", eps)
	}
	if n := len(r.ups); n > 0 && slices.Equal(r.ups[n-1], eps) {
		r.t.Errorf("update with an unchanged list: %v", eps)
	}
	r.ups = append(r.ups, eps)
	r.signal()
}

func (r *recorder) onError(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
	r.signal()
}

func (r *recorder) signal() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) updates() [][]Endpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ups)
}

func (r *recorder) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// waitFor waits until cond holds for the reports so far, failing the test
// after timeout.
func (r *recorder) waitFor(timeout time.Duration, what string, cond func(ups [][]Endpoint, errs []error) bool) {
	r.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond(r.ups, r.errs)
		ups, errs := slices.Clone(r.ups), slices.Clone(r.errs)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.notify:
		case <-deadline.C:
			r.t.Fatalf("timed out after %s waiting for %s; updates %v, errors %v", timeout, what, ups, errs)
		}
	}
}

// waitList waits until the latest update is want.
func (r *recorder) waitList(timeout time.Duration, want ...string) []Endpoint {
	r.t.Helper()
	var got []Endpoint
	r.waitFor(timeout, fmt.Sprintf("list %v", want), func(ups [][]Endpoint, _ []error) bool {
		if len(ups) == 0 {
			return false
		}
		got = ups[len(ups)-1]
		return slices.Equal(urls(got), want)
	})
	return got
}

// waitErr waits for an error containing substr and returns it.
func (r *recorder) waitErr(timeout time.Duration, substr string) error {
	r.t.Helper()
	var found error
	r.waitFor(timeout, fmt.Sprintf("an error containing %q", substr), func(_ [][]Endpoint, errs []error) bool {
		for _, err := range errs {
			if strings.Contains(err.Error(), substr) {
				found = err
				return true
			}
		}
		return false
	})
	return found
}

// waitUntil polls a condition outside the recorder (such as a server's query
// count) with a short tick, failing after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

func urls(eps []Endpoint) []string {
	out := []string{}
	for _, ep := range eps {
		out = append(out, ep.URL)
	}
	return out
}

func TestCanonicalURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want, err string }{
		{in: "http://10.0.0.7:8080", want: "http://10.0.0.7:8080"},
		{in: "HTTP://Users.Internal", want: "http://users.internal:80"},
		{in: "https://host", want: "https://host:443"},
		{in: "https://host:8443/", want: "https://host:8443"},
		{in: "http://[2001:DB8:0::1]:80", want: "http://[2001:db8::1]:80"},
		{in: "http://[fe80::1%25eth0]:80", want: "http://[fe80::1%25eth0]:80"},
		{in: "http://host:0080", want: "http://host:80"},
		{in: "", err: "empty"},
		{in: "10.0.0.7:8080", err: "no scheme"},
		{in: "ftp://host:21", err: "unsupported scheme"},
		{in: "http://user:pw@host:80", err: "credentials"},
		{in: "http://:80", err: "no host"},
		{in: "http://host:80/api", err: "path"},
		{in: "http://host:80?a=b", err: "query"},
		{in: "http://host:80#x", err: "fragment"},
		{in: "http://host:70000", err: "invalid port"},
		{in: "http://host:0", err: "invalid port"},
		{in: "http://[::1", err: "invalid URL"},
	} {
		got, err := canonicalURL(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("canonicalURL(%q) = %q, %v; want error containing %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("canonicalURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestStatic(t *testing.T) {
	t.Parallel()
	in := []Endpoint{{URL: "http://B:80"}, {URL: "http://a"}, {URL: "http://b:80", Weight: 5}, {URL: "not a url", Weight: -2}}
	r := run(t, Static(in))
	got := r.waitList(wait, "http://a:80", "http://b:80", "not a url")
	if want := []Endpoint{{"http://a:80", 1}, {"http://b:80", 5}, {"not a url", 1}}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if in[0].URL != "http://B:80" {
		t.Error("Static modified its argument")
	}
	got[0].URL = "changed" // update owns its slice
	r2 := run(t, Static(in))
	r2.waitList(wait, "http://a:80", "http://b:80", "not a url")
	r.stop()
	if n := len(r.updates()); n != 1 {
		t.Errorf("%d updates, want 1", n)
	}
}

// failing is a source that reports an error and then a list.
type failing struct{ err error }

func (f failing) Run(ctx context.Context, update func([]Endpoint), onError func(error)) {
	onError(f.err)
	<-ctx.Done()
}

func TestMerge(t *testing.T) {
	t.Parallel()
	d1, d2 := NewDynamic(), NewDynamic()
	boom := errors.New("boom")
	r := run(t, Merge(
		Static([]Endpoint{{URL: "http://a:80", Weight: 2}, {URL: "http://b:80"}}),
		d1, d2, failing{boom},
	))
	// The static list alone, without waiting for the dynamic sources.
	r.waitList(wait, "http://a:80", "http://b:80")
	if err := r.waitErr(wait, "boom"); !errors.Is(err, boom) {
		t.Errorf("error %v, want boom", err)
	}

	d1.Set([]Endpoint{{URL: "http://c:80"}, {URL: "http://a", Weight: 7}})
	got := r.waitList(wait, "http://a:80", "http://b:80", "http://c:80")
	if got[0].Weight != 7 {
		t.Errorf("a has weight %d, want the highest, 7", got[0].Weight)
	}

	d2.Set([]Endpoint{{URL: "http://d:80"}})
	r.waitList(wait, "http://a:80", "http://b:80", "http://c:80", "http://d:80")

	// A change that leaves the union as it is is not reported: b is in the
	// static list already, with the same weight.
	n := len(r.updates())
	d2.Set([]Endpoint{{URL: "http://d:80"}, {URL: "http://b:80"}})
	d1.Set(nil) // a and b stay (static), c goes
	got = r.waitList(wait, "http://a:80", "http://b:80", "http://d:80")
	if got[0].Weight != 2 {
		t.Errorf("a has weight %d, want the static 2", got[0].Weight)
	}
	r.stop()
	if ups := r.updates(); len(ups) != n+1 {
		t.Errorf("%d updates after the last two Sets, want 1: %v", len(ups)-n, ups[n:])
	}
}

func TestMergeNothing(t *testing.T) {
	t.Parallel()
	r := run(t, Merge())
	r.waitFor(wait, "an empty list", func(ups [][]Endpoint, _ []error) bool {
		return len(ups) == 1 && len(ups[0]) == 0
	})
}

func TestMergeOfMerges(t *testing.T) {
	t.Parallel()
	d := NewDynamic()
	r := run(t, Merge(Merge(Static([]Endpoint{{URL: "http://a:1"}}), d), Static([]Endpoint{{URL: "http://b:1"}})))
	r.waitList(wait, "http://a:1", "http://b:1")
	d.Set([]Endpoint{{URL: "http://c:1"}})
	r.waitList(wait, "http://a:1", "http://b:1", "http://c:1")
}
