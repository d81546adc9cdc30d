package gateway

import (
	"testing"
	"time"

	"github.com/floodgate/floodgate/internal/config"
)

// A zero written in the file switches a feature off; a zero left out
// means the documented default.
func TestUpstreamSpecExplicitZeros(t *testing.T) {
	const yaml = `listeners: [{address: "127.0.0.1:0"}]
upstreams:
  - name: defaults
    targets: [http://127.0.0.1:1]
    breaker: {}
    health: {active: {}}
  - name: zeros
    targets: [http://127.0.0.1:1]
    breaker: {consecutive_failures: 0, failure_ratio: 50%}
    health:
      panic_threshold: 0
      active: {jitter: 0%}
      passive: {consecutive_failures: 0, failure_rate: 20%, hang_timeout: 0s}
    retries: {budget: 0%, min_per_second: 5}
  - name: nomin
    targets: [http://127.0.0.1:1]
    retries: {min_per_second: 0}
routes:
  - upstream: defaults
`
	cfg, src, err := config.Parse("floodgate.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	def := upstreamSpec(cfg.Upstreams[0], 0, src)
	zero := upstreamSpec(cfg.Upstreams[1], 1, src)
	nomin := upstreamSpec(cfg.Upstreams[2], 2, src)

	if def.Breaker.ConsecutiveFailures != 5 || zero.Breaker.ConsecutiveFailures != 0 {
		t.Errorf("breaker consecutive failures: default %d (want 5), zero %d (want 0)", def.Breaker.ConsecutiveFailures, zero.Breaker.ConsecutiveFailures)
	}
	if def.Passive.ConsecutiveFailures != 3 || zero.Passive.ConsecutiveFailures != 0 {
		t.Errorf("passive consecutive failures: default %d (want 3), zero %d (want 0)", def.Passive.ConsecutiveFailures, zero.Passive.ConsecutiveFailures)
	}
	if def.HangTimeout != 5*time.Second || zero.HangTimeout != 0 {
		t.Errorf("hang timeout: default %v (want 5s), zero %v (want 0)", def.HangTimeout, zero.HangTimeout)
	}
	if def.PanicThreshold != 0.5 || zero.PanicThreshold != 0 {
		t.Errorf("panic threshold: default %v (want 0.5), zero %v (want 0)", def.PanicThreshold, zero.PanicThreshold)
	}
	if def.Active.Jitter != 0.1 || zero.Active.Jitter != 0 {
		t.Errorf("jitter: default %v (want 0.1), zero %v (want 0)", def.Active.Jitter, zero.Active.Jitter)
	}
	if def.RetryBudget != 0.2 || def.RetryMinPerSec != 10 || zero.RetryBudget != 0 || zero.RetryMinPerSec != 5 || nomin.RetryBudget != 0.2 || nomin.RetryMinPerSec != 0 {
		t.Errorf("retry budget/min per second: default %v/%d (want 0.2/10), zero %v/%d (want 0/5), nomin %v/%d (want 0.2/0)",
			def.RetryBudget, def.RetryMinPerSec, zero.RetryBudget, zero.RetryMinPerSec, nomin.RetryBudget, nomin.RetryMinPerSec)
	}
	if zero.Passive.FailureRatio != 0.2 || zero.Breaker.FailureRatio != 0.5 {
		t.Errorf("failure ratios: passive %v (want 0.2), breaker %v (want 0.5)", zero.Passive.FailureRatio, zero.Breaker.FailureRatio)
	}
}

// A managed upstream passes validation but is refused at compile time with
// a clear reason until the process provider is wired in: never an upstream
// whose instances silently never start.
