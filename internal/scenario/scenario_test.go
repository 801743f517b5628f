package scenario_test

import (
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/scenario"
	"github.com/meshbench/meshbench/scenarios"
)

func TestParseShorthandsAndDefaults(t *testing.T) {
	t.Parallel()
	sc, err := scenario.Parse("s.yaml", []byte(`
paths: [direct, {name: edge, kind: haproxy, settings: {balance: leastconn}}]
rate: 250
warmup: 0s
backend: {payload: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := sc.Paths[0]; got.Name != "direct" || got.Kind != "direct" {
		t.Errorf("bare path = %+v", got)
	}
	if got := sc.Paths[1]; got.Name != "edge" || got.Kind != "haproxy" || got.Settings["balance"] != "leastconn" {
		t.Errorf("mapping path = %+v", got)
	}
	if sc.Rate.Shape != "constant" || sc.Rate.RPS != 250 {
		t.Errorf("rate = %+v", sc.Rate)
	}
	// Keys the file sets to zero mean zero; keys it leaves out keep defaults.
	if sc.Warmup != 0 || sc.Backend.Payload != 0 {
		t.Errorf("explicit zeros lost: warmup %v payload %d", sc.Warmup.D(), sc.Backend.Payload)
	}
	if sc.Duration.D() != 10*time.Second || sc.Backend.Replicas != 3 || sc.Connections != 64 {
		t.Errorf("defaults lost: %+v", sc)
	}
}

func TestParseErrorsNamePosition(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", "rate: 10\nduraton: 5s\n", `s.yaml:2:1: unknown key "duraton"`},
		{"nested unknown", "backend:\n  replica: 2\n", `s.yaml:2:3: unknown key "replica"`},
		{"bad duration", "duration: fast\n", `s.yaml:1:11: "fast" is not a duration`},
		{"bad rate", "rate: lots\n", `s.yaml:1:7: rate "lots" is not a number`},
		{"bad int", "trials: 2.5\n", `s.yaml:1:9: want a whole number, got "2.5"`},
		{"list for scalar", "trials: [1]\n", `s.yaml:1:9: want a whole number, got a list`},
		{"mapping for string", "name: {a: 1}\n", `s.yaml:1:7: want a single value, got a mapping`},
		{"scalar for list", "paths: direct\n", `s.yaml:1:8: want a list, got "direct"`},
		{"word for number", "backend: {error_rate: half}\n", `s.yaml:1:23: want a number, got "half"`},
		{"scalar for mapping", "backend: 5\n", `s.yaml:1:10: want a mapping (key: value), got "5"`},
		{"duplicate key", "rate: 1\nrate: 2\n", `s.yaml:2:1: key "rate" given twice`},
		{"duplicate nested key", "backend:\n  payload: 1\n  payload: 2\n", `s.yaml:3:3: key "payload" given twice`},
		{"duplicate map key", "request:\n  headers: {X-A: 1, X-A: 2}\n", `s.yaml:2:21: key "X-A" given twice (first at line 2)`},
		{"duplicate setting", "paths:\n  - name: hap\n    kind: haproxy\n    settings:\n      balance: first\n      balance: leastconn\n", `s.yaml:6:7: key "balance" given twice`},
		{"unknown key in path", "paths:\n  - name: hap\n    knd: haproxy\n", `s.yaml:3:5: unknown key "knd" (known: name, kind, settings, exec)`},
		{"unknown key in exec", "paths:\n  - name: x\n    kind: exec\n    exec: {comand: [a]}\n", `s.yaml:4:12: unknown key "comand"`},
		{"unknown key in rate", "rate: {shape: constant, rsp: 5}\n", `s.yaml:1:25: unknown key "rsp"`},
		{"fraction for count", "paths: [{name: x, kind: exec, exec: {command: [a]}}]\nbackend: {replicas: 1.5}\n", `s.yaml:2:21: want a whole number, got "1.5"`},
		{"bad rate shorthand", "rate: [1]\n", `s.yaml:1:7: want a mapping (key: value), got a list`},
		{"second document", "rate: 1\n---\nrate: 2\n", `s.yaml:2:1: a second YAML document`},
		{"syntax", "rate: [1\n", `s.yaml:1: did not find expected`},
		{"invalid value", "rate: 10\nbackend:\n  replicas: 0\n", `s.yaml:3:13: backend replicas must be at least 1, got 0`},
		{"invalid shorthand value", "rate: 0\n", `s.yaml:1:7: rate must be above 0`},
		{"invalid list item", "duration: 5s\nfaults:\n  - {at: 1s, replica: 0, kill: true}\n  - {at: 9s, replica: 0, kill: true}\n", `s.yaml:4:10: faults[1]: at 9s must fall inside`},
		{"invalid header", "request:\n  headers:\n    X.Trace: ok\n    Host: evil\n", `s.yaml:4:11: request header Host is set by meshbench`},
		{"invalid path kind", "paths: [direct, frob]\n", `s.yaml:1:17: path "frob": unknown kind "frob"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := scenario.Parse("s.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatalf("no error for %q", c.yaml)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
			if errext.Code(err) != errext.BadInputExit {
				t.Errorf("exit code %d, want 2", errext.Code(err))
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		edit func(*scenario.Scenario)
		want string
	}{
		{"rate zero", func(s *scenario.Scenario) { s.Rate.RPS = 0 }, "rate must be above 0"},
		{"duration zero", func(s *scenario.Scenario) { s.Duration = 0 }, "duration must be above 0"},
		{"connections zero", func(s *scenario.Scenario) { s.Connections = 0 }, "connections must be at least 1"},
		{"unknown kind", func(s *scenario.Scenario) { s.Paths = []scenario.PathSpec{{Name: "envoy", Kind: "envoy"}} }, `unknown kind "envoy"`},
		{"no kind", func(s *scenario.Scenario) { s.Paths = []scenario.PathSpec{{Name: "direct"}} }, `unknown kind ""`},
		{"newline in name", func(s *scenario.Scenario) {
			s.Paths = []scenario.PathSpec{{Name: "a\nbind *:80", Kind: "haproxy"}}
		}, "path name"},
		{"brace in setting", func(s *scenario.Scenario) {
			s.Paths = []scenario.PathSpec{{Name: "nginx", Kind: "nginx", Settings: map[string]string{"max_fails": "1;} server {"}}}
		}, "not allowed"},
		{"header injection", func(s *scenario.Scenario) { s.Request.Headers = map[string]string{"X-A": "1\r\nHost: evil"} }, "line break"},
		{"error rate", func(s *scenario.Scenario) { s.Backend.ErrorRate = 1.5 }, "error rate 1.5"},
		{"unknown probe", func(s *scenario.Scenario) { s.HostStats.Probes = []string{"jitter", "smart"} }, `unknown probe "smart"`},
		{"target with proxy", func(s *scenario.Scenario) {
			s.Target = "http://127.0.0.1:1/"
			s.Paths = []scenario.PathSpec{{Name: "haproxy", Kind: "haproxy"}}
		}, "cannot run with it"},
		{"target not url", func(s *scenario.Scenario) { s.Target = "127.0.0.1:80" }, "not an http"},
		{"twice", func(s *scenario.Scenario) {
			s.Paths = []scenario.PathSpec{{Name: "direct", Kind: "direct"}, {Name: "direct", Kind: "direct"}}
		}, "listed twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := scenario.Default()
			c.edit(s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, c.want)
			}
			if errext.Code(err) != errext.BadInputExit {
				t.Errorf("exit code %d, want 2", errext.Code(err))
			}
		})
	}
}

// Every scenario that ships must parse and validate as it is.
func TestShippedScenarios(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(scenarios.Files, "*.yaml")
	if err != nil || len(names) == 0 {
		t.Fatalf("no shipped scenarios: %v", err)
	}
	for _, name := range names {
		data, err := scenarios.Files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := scenario.Parse(name, data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := sc.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	ok := "duration: 10s\nfaults:\n  - {at: 3s, replica: 0, error_rate: 0.5}\n  - {at: 5s, replica: 1, delay: 20ms}\n"
	sc, err := scenario.Parse("f.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	if *sc.Faults[0].ErrorRate != 0.5 || sc.Faults[1].Delay.D() != 20*time.Millisecond {
		t.Errorf("faults = %+v", sc.Faults)
	}
	for yaml, want := range map[string]string{
		"faults: [{at: 30s, replica: 0, kill: true}]":                 "inside the measured window",
		"faults: [{at: 1s, replica: 7, kill: true}]":                  "does not exist",
		"faults: [{at: 1s, replica: 0, kill: true, error_rate: 0.1}]": "exactly one",
		"faults: [{at: 1s, replica: 0}]":                              "exactly one",
		"faults: [{at: 1s, replica: 0, error_rate: 2}]":               "within 0 and 1",
	} {
		sc, err := scenario.Parse("f.yaml", []byte(yaml))
		if err == nil {
			err = sc.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", yaml, err, want)
		}
	}
}

func TestSweep(t *testing.T) {
	t.Parallel()
	sc, err := scenario.Parse("s.yaml", []byte("paths: [direct]\nsweep: [500, 1000, 2000.5]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(sc.Sweep) != 3 || sc.Sweep[2] != 2000.5 {
		t.Errorf("sweep %v", sc.Sweep)
	}
	for text, want := range map[string]string{
		"sweep: [500, 0]\n": "sweep[1]: rate must be above 0",
		"sweep: [500]\nrate: {shape: linear, rps: 1, end: 9}\n": "cannot be combined with a linear rate",
		"sweep: [fast]\n": "s.yaml:2:9",
	} {
		sc, err := scenario.Parse("s.yaml", []byte("paths: [direct]\n"+text))
		if err == nil {
			err = sc.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", text, err, want)
		}
	}
}
