package scenario_test

import (
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/scenario"
)

func TestFaultActions(t *testing.T) {
	t.Parallel()
	sc, err := scenario.Parse("f.yaml", []byte(`
duration: 10s
faults:
  - {at: 1s, replica: 0, blackhole: true, restore_after: 2s}
  - {at: 3s, replica: 0, reset: true}
  - {at: 2s, replica: 1, kill: true, restore_after: 3s}
  - {at: 5s, replica: 1, error_rate: 0.5, restore_after: 1s}
  - {at: 7s, replica: 1, delay: 20ms}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range sc.Faults {
		got = append(got, f.Action())
	}
	if want := "blackhole reset kill error_rate delay"; strings.Join(got, " ") != want {
		t.Errorf("actions %v, want %s", got, want)
	}
	if end, ok := sc.Faults[2].End(); !ok || end != 5*time.Second {
		t.Errorf("kill ends at %v %v, want 5s", end, ok)
	}
	if _, ok := sc.Faults[1].End(); ok {
		t.Error("a fault without restore_after has an end")
	}
	if (scenario.Fault{Kill: true, Reset: true}).Action() != "" {
		t.Error("two actions named as one")
	}
}

func TestFaultRules(t *testing.T) {
	t.Parallel()
	cases := []struct{ yaml, want string }{
		{"faults: [{at: 1s, replica: 0}]", "faults[0]: set exactly one of error_rate, delay, kill, blackhole, reset (got 0)"},
		{"faults: [{at: 1s, replica: 0, kill: true, blackhole: true}]", "set exactly one of error_rate, delay, kill, blackhole, reset (got 2)"},
		{"faults: [{at: 1s, replica: 0, reset: true, delay: 1ms}]", "(got 2)"},
		{"faults: [{at: 10s, replica: 0, kill: true}]", "4:15: faults[0]: at 10s must fall inside the measured window (10s long)"},
		{"faults: [{at: -1s, replica: 0, kill: true}]", "must fall inside the measured window"},
		{"window: 2s\nfaults: [{at: 1s, replica: 0, kill: true}]", "window 2s: faults, and a linear or sine rate, span one whole window"},
		{"faults: [{at: 8s, replica: 0, kill: true, restore_after: 2s}]", "faults[0]: restored at 10s, past the measured window (10s long)"},
		{"faults: [{at: 1s, replica: 0, kill: true, restore_after: -1s}]", "restore_after must not be negative"},
		{"faults: [{at: 1s, replica: 0, kill: true, restore_after: soon}]", `"soon" is not a duration`},
		{"faults: [{at: 1s, replica: 0, kill: true}, {at: 5s, replica: 0, error_rate: 0.5}]", "faults[1]: replica 0 is still under faults[0] at 5s"},
		{"faults: [{at: 5s, replica: 0, kill: true}, {at: 1s, replica: 0, reset: true}]", "faults[1]: replica 0 is still under faults[0] at 1s"},
		{"faults: [{at: 1s, replica: 0, kill: true, restore_after: 3s}, {at: 3s, replica: 0, reset: true}]", "still under faults[0]"},
		{"faults: [{at: 1s, replica: 3, kill: true}]", "replica 3 does not exist (replicas 0 to 2)"},
		{"faults: [{at: 1s, replica: 0, kill: yes please}]", "want true or false"},
	}
	for _, c := range cases {
		_, err := scenario.Parse("f.yaml", []byte("duration: 10s\nbackend: {replicas: 3}\n\n"+c.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n  error %v\n  want %q", c.yaml, err, c.want)
		}
	}
	// Faults on one replica that follow each other, and on different
	// replicas at once, are fine.
	_, err := scenario.Parse("f.yaml", []byte(`
faults:
  - {at: 1s, replica: 0, kill: true, restore_after: 2s}
  - {at: 3s, replica: 0, blackhole: true}
  - {at: 1s, replica: 1, reset: true}
`))
	if err != nil {
		t.Error(err)
	}
}

func TestKnee(t *testing.T) {
	t.Parallel()
	sc, err := scenario.Parse("k.yaml", []byte("sweep: [100, 200]\nknee: {p99_max: 10ms}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := sc.Knee.P99Bound(time.Millisecond); got != 10*time.Millisecond {
		t.Errorf("fixed bound %v", got)
	}
	sc, err = scenario.Parse("k.yaml", []byte("sweep: [100, 200]\nknee: {p99_factor: 4}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := sc.Knee.P99Bound(3 * time.Millisecond); got != 12*time.Millisecond {
		t.Errorf("factor bound %v", got)
	}
	if got := (scenario.Knee{}).P99Bound(2 * time.Millisecond); got != 20*time.Millisecond {
		t.Errorf("default bound %v, want 10x", got)
	}
	for text, want := range map[string]string{
		"knee: {p99_max: 10ms}":                           "knee applies to a sweep",
		"sweep: [1]\nknee: {p99_max: 1ms, p99_factor: 3}": "give p99_max or p99_factor, not both",
		"sweep: [1]\nknee: {p99_factor: 1}":               "p99_factor must be above 1 and at most 1000",
		"sweep: [1]\nknee: {p99_factor: .inf}":            "p99_factor must be above 1",
		"sweep: [1]\nknee: {p99_factor: .nan}":            "got NaN",
		"sweep: [1]\nknee: {p99_max: -1ms}":               "knee p99_max must not be negative",
		"sweep: [1]\nknee: {p99_max: 1h}":                 "(MaxTimeout)",
		"sweep: [1]\nknee: {p99: 1ms}":                    `unknown key "p99" (known: p99_max, p99_factor)`,
	} {
		_, err := scenario.Parse("k.yaml", []byte(text+"\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
	// --rate replaces the sweep, and the sweep's knee goes with it.
	sc, _ = scenario.Parse("k.yaml", []byte("sweep: [100, 200]\nknee: {p99_factor: 4}\n"))
	rate := 50.0
	out, err := scenario.Overrides{Rate: &rate}.Apply(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Validate(); err != nil {
		t.Error(err)
	}
}

func TestWindowPlacementRounds(t *testing.T) {
	t.Parallel()
	sc, err := scenario.Parse("w.yaml", []byte("duration: 10s\nwindow: 2s\nplacement: split\ntrials: 3\nmax_rounds: 8\n"))
	if err != nil {
		t.Fatal(err)
	}
	if sc.WindowLength() != 2*time.Second || sc.Placement != scenario.PlacementSplit || sc.Rounds() != 8 {
		t.Errorf("window %v placement %q rounds %d", sc.WindowLength(), sc.Placement, sc.Rounds())
	}
	if sc = scenario.Default(); sc.Placement != "auto" || sc.Rounds() != 1 || sc.WindowLength() != scenario.DefaultWindow {
		t.Errorf("defaults: placement %q rounds %d window %v", sc.Placement, sc.Rounds(), sc.WindowLength())
	}
	for text, want := range map[string]string{
		"window: 50ms":             "window must be at least 100ms (MinDuration)",
		"window: 11s":              "window must be at most 10s (the duration)",
		"window: -1s":              "window must be above 0",
		"rate: 5\nwindow: 100ms":   "a 100ms window at 5 requests/s holds 0.5 requests; raise the rate or the window",
		"placement: cpu0":          `placement "cpu0": want shared, split, auto`,
		"trials: 3\nmax_rounds: 2": "max_rounds (2) must be at least trials (3)",
		"max_rounds: 101":          "max_rounds must be at most 100 (MaxTrials)",
		"max_rounds: -1":           "max_rounds (-1) must be at least trials",
		"duration: 1h\nwindow: 100ms\ntrials: 10\nwarmup: 0s\npaths: [direct, haproxy]": "(MaxWindows)",
		"trials: 2\nmax_rounds: 100\nduration: 1h\nwindow: 1h\nwarmup: 0s":              "(MaxRunTime)",
	} {
		if !strings.Contains(text, "duration:") {
			text = "duration: 10s\n" + text
		}
		_, err := scenario.Parse("w.yaml", []byte(text+"\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
}
