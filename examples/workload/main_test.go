package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWorkloadLimitsConcurrency: with one slot, two requests of 50ms of
// delay run one after the other; /healthz bypasses the limit.
func TestWorkloadLimitsConcurrency(t *testing.T) {
	h := newHandler(0, 50*time.Millisecond, 1)
	srv := httptest.NewServer(h)
	defer srv.Close()
	start := time.Now()
	var wg sync.WaitGroup
	queued := make([]string, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(srv.URL + "/work")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "served by ") || resp.Header.Get("X-Instance") == "" {
				t.Errorf("got %d %q", resp.StatusCode, b)
			}
			queued[i] = resp.Header.Get("X-Queue-Ms")
		}()
	}
	// While both are busy, the health check answers at once.
	time.Sleep(10 * time.Millisecond)
	hs := time.Now()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if d := time.Since(hs); d > 40*time.Millisecond {
		t.Errorf("healthz took %v while the slot was busy; want immediate", d)
	}
	wg.Wait()
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("two requests with one slot took %v; want ≥ 100ms (serialised)", d)
	}
	if queued[0] == "0" && queued[1] == "0" {
		t.Errorf("neither request waited for the slot: X-Queue-Ms %v", queued)
	}
}

// TestBurnUsesCPU: burn consumes about the requested thread CPU time.
func TestBurnUsesCPU(t *testing.T) {
	before := threadCPUOfBurn(20 * time.Millisecond)
	if before < 20*time.Millisecond || before > 200*time.Millisecond {
		t.Errorf("burn(20ms) used %v of CPU", before)
	}
}

func threadCPUOfBurn(d time.Duration) time.Duration {
	// Read the thread's clock on the thread burn runs on (locks nest).
	var used time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		start := threadCPU()
		burn(d)
		used = threadCPU() - start
	}()
	<-done
	return used
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Setenv("PORT", "")
	if err := run(nil); err == nil || !strings.Contains(err.Error(), "no port") {
		t.Errorf("no PORT: %v", err)
	}
	if err := run([]string{"-port", "0", "-work", "-1ms"}); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative work: %v", err)
	}
}
