package scenario_test

import (
	"testing"

	"github.com/meshbench/meshbench/internal/load"
	"github.com/meshbench/meshbench/internal/scenario"
)

// A scenario that validates must run: the bounds the load engine enforces
// are the scenario's, or wider.
func TestBoundsMatchTheLoadEngine(t *testing.T) {
	if scenario.MaxRate > load.MaxRate || scenario.MaxConnections > load.MaxConnections ||
		scenario.MaxTimeout > load.MaxTimeout || scenario.MaxDuration > load.MaxDuration {
		t.Errorf("scenario bounds rate %g, connections %d, timeout %s, duration %s; the load engine's %d, %d, %s, %s",
			scenario.MaxRate, scenario.MaxConnections, scenario.MaxTimeout, scenario.MaxDuration,
			load.MaxRate, load.MaxConnections, load.MaxTimeout, load.MaxDuration)
	}
	if scenario.MaxSendBatch > load.MaxSendBatch {
		t.Errorf("scenario send_batch bound %s, the load engine's %s", scenario.MaxSendBatch, load.MaxSendBatch)
	}
}
