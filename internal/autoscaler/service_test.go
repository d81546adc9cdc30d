package autoscaler

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/floodgate/floodgate/internal/discovery"
	"github.com/floodgate/floodgate/internal/provider/process"
	"github.com/floodgate/floodgate/internal/scale"
)

// A reload that lengthens the stable window or sets a latency percentile
// gets a recorder sized for it; other changes keep the load history.
func TestUpdateResizesRecorder(t *testing.T) {
	pol := scale.DefaultPolicy()
	set := Settings{Spec: process.Spec{Name: "svc", Command: "true"}, Policy: &pol}
	s, err := newService(set, discovery.NewDynamic(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.p.Stop(context.Background())
	first := s.rec.Load()
	if first.MaxWindow() < pol.StableWindow {
		t.Fatalf("recorder window %v < stable window %v", first.MaxWindow(), pol.StableWindow)
	}

	same := set
	same.Hold = Hold{Queue: 5}
	s.update(same)
	if s.rec.Load() != first {
		t.Error("a hold change replaced the recorder (and lost the load history)")
	}

	longer := pol
	longer.StableWindow = 5 * time.Minute
	changed := set
	changed.Policy, changed.Quantile = &longer, 0.95
	s.update(changed)
	rec := s.rec.Load()
	if rec == first || rec.MaxWindow() < 5*time.Minute || rec.Config().Quantile != 0.95 {
		t.Errorf("recorder after the change: window %v, quantile %g", rec.MaxWindow(), rec.Config().Quantile)
	}
	if s.gate.hold.Queue != DefaultHoldQueue {
		t.Errorf("hold queue %d", s.gate.hold.Queue)
	}
}
