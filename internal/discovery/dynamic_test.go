package discovery

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestDynamicSetBeforeAndAfterRun(t *testing.T) {
	t.Parallel()
	d := NewDynamic()
	d.Set([]Endpoint{{URL: "http://a:1"}})
	r := run(t, d)
	r.waitList(wait, "http://a:1")
	d.Set([]Endpoint{{URL: "http://b:1"}, {URL: "http://a:1"}})
	r.waitList(wait, "http://a:1", "http://b:1")
}

func TestDynamicNothingUntilSet(t *testing.T) {
	t.Parallel()
	d := new(Dynamic) // the zero value works too
	r := run(t, d)
	d2 := NewDynamic() // a second source makes a Merge report: proves r had time to report too
	r2 := run(t, Merge(d, d2))
	d2.Set(nil)
	r2.waitFor(wait, "an empty list", func(ups [][]Endpoint, _ []error) bool { return len(ups) == 1 })
	if ups := r.updates(); len(ups) != 0 {
		t.Errorf("updates before any Set: %v", ups)
	}
	d.Set(nil) // an empty list is a list
	r.waitFor(wait, "an empty list", func(ups [][]Endpoint, _ []error) bool { return len(ups) == 1 && len(ups[0]) == 0 })
}

func TestDynamicSubscribersAndChangesOnly(t *testing.T) {
	t.Parallel()
	d := NewDynamic()
	rs := []*recorder{run(t, d), run(t, d), run(t, d)}
	d.Set([]Endpoint{{URL: "http://a:1", Weight: 2}})
	for _, r := range rs {
		r.waitList(wait, "http://a:1")
	}
	d.Set([]Endpoint{{URL: "http://A:1", Weight: 2}}) // the same list, written differently
	d.Set([]Endpoint{{URL: "http://a:1", Weight: 3}}) // a weight change is a change
	late := run(t, d)                                 // subscribes after the Sets
	for _, r := range append(rs, late) {
		r.waitFor(wait, "weight 3", func(ups [][]Endpoint, _ []error) bool {
			return len(ups) > 0 && ups[len(ups)-1][0].Weight == 3
		})
	}
	for i, r := range rs {
		r.stop()
		if ups := r.updates(); len(ups) != 2 {
			t.Errorf("subscriber %d: updates %v, want 2", i, ups)
		}
	}
	late.stop()
	if ups := late.updates(); len(ups) != 1 {
		t.Errorf("late subscriber: updates %v, want 1", ups)
	}
}

// A subscriber that is slow to consume gets the latest list, not a backlog.
func TestDynamicLatestWins(t *testing.T) {
	t.Parallel()
	d := NewDynamic()
	d.Set([]Endpoint{{URL: "http://a:0000001"}})
	got, release := make(chan []Endpoint), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx, func(eps []Endpoint) {
			got <- eps
			<-release
		}, func(error) {})
	}()
	defer func() {
		cancel()
		close(release)
		<-done
	}()

	first := <-got // Run is now blocked in update until released
	if want := []string{"http://a:1"}; !slices.Equal(urls(first), want) {
		t.Fatalf("first update %v, want %v", first, want)
	}
	for i := 2; i <= 100; i++ {
		d.Set([]Endpoint{{URL: "http://a:1", Weight: i}})
	}
	release <- struct{}{}
	select {
	case eps := <-got:
		if eps[0].Weight != 100 {
			t.Errorf("after a burst of Sets the slow subscriber got weight %d, want the latest, 100", eps[0].Weight)
		}
	case <-time.After(wait):
		t.Fatal("no update after the burst")
	}
	release <- struct{}{}
	select {
	case eps := <-got:
		t.Errorf("a further update %v: the burst was queued", eps)
	case <-time.After(50 * time.Millisecond): // a bounded check for absence
	}
}
