package store

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests: Memory's sweeper
// and Redis's connection pool stop on Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
