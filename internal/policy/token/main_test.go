package token

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that Services leave no goroutine behind once closed (the
// memory store's sweeper, Redis pools, backend calls).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
