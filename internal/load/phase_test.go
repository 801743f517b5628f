package load

import (
	"context"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/backend"
)

// TestPhase: a phase delays warm-up and window alike, so the warm-up's
// first send and the window's opening move by exactly the phase, and the
// window keeps its length and request count.
func TestPhase(t *testing.T) {
	const phase = 40 * time.Millisecond
	e, err := newEngine(Config{Targets: []string{"http://127.0.0.1:1"}, Rate: Rate{RPS: 100}, Warmup: 100 * time.Millisecond, Duration: time.Second, Phase: phase})
	if err != nil {
		t.Fatal(err)
	}
	if off, ok := e.warm.Offset(0); !ok || off != phase {
		t.Errorf("warm-up's first send at %s, want %s", off, phase)
	}
	if off, ok := e.warm.Offset(9); !ok || off != phase+90*time.Millisecond {
		t.Errorf("warm-up's last send at %s (ok %v), want %s", off, ok, phase+90*time.Millisecond)
	}
	if _, ok := e.warm.Offset(10); ok {
		t.Errorf("the warm-up has an 11th send at 100 req/s for 100 ms")
	}
	if _, err := newEngine(Config{Targets: []string{"http://127.0.0.1:1"}, Rate: Rate{RPS: 100}, Duration: time.Second, Phase: -time.Millisecond}); err == nil {
		t.Errorf("a negative phase was accepted")
	}

	b := startBackend(t, backend.Config{Payload: 16})
	before := time.Now()
	res, err := Run(context.Background(), Config{Targets: []string{b.URL()}, Rate: Rate{RPS: 200}, Duration: 200 * time.Millisecond, Phase: phase})
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Start.Sub(before); d < phase+warmStart {
		t.Errorf("the window opened %s after Run was called, before its phase %s", d, phase)
	}
	if res.Requests+res.Unsent != 40 || res.Window() != 200*time.Millisecond && !res.Interrupted {
		t.Errorf("%d requests + %d unsent over %s, want 40 over 200ms", res.Requests, res.Unsent, res.Window())
	}
}
