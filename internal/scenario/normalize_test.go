package scenario_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/scenario"
)

// Validate reports what is wrong and leaves the scenario as it was, valid
// or not.
func TestValidateDoesNotChangeInput(t *testing.T) {
	t.Parallel()
	for _, paths := range [][]scenario.PathSpec{
		{{Name: "direct", Kind: "direct"}},
		{{Name: "edge"}},             // no kind: an error, not filled in
		{{Kind: "haproxy"}},          // no name: an error, not filled in
		{{Name: "a", Kind: "nginx"}}, // valid
	} {
		s := scenario.Default()
		s.Paths = paths
		s.Rate.Shape = ""
		s.Request.Headers = map[string]string{}
		before := s.Clone()
		_ = s.Validate()
		if !reflect.DeepEqual(before, s) {
			t.Errorf("Validate changed the scenario:\nbefore %+v\nafter  %+v", before, s)
		}
	}
}

func TestNormalizeFillsACopy(t *testing.T) {
	t.Parallel()
	s := scenario.Default()
	s.Paths = []scenario.PathSpec{{Name: "edge"}, {Kind: "haproxy", Settings: map[string]string{}}}
	s.Rate = scenario.Rate{RPS: 5}
	s.Sweep = []float64{}
	before := s.Clone()
	n := scenario.Normalize(s)
	if !reflect.DeepEqual(before, s) {
		t.Errorf("Normalize changed its input: %+v", s)
	}
	if got := n.Paths[0]; got.Name != "edge" || got.Kind != "edge" {
		t.Errorf("path by name = %+v", got)
	}
	if got := n.Paths[1]; got.Name != "haproxy" || got.Kind != "haproxy" || got.Settings != nil {
		t.Errorf("path by kind = %+v", got)
	}
	if n.Rate.Shape != scenario.ShapeConstant || n.Sweep != nil {
		t.Errorf("rate %+v sweep %#v", n.Rate, n.Sweep)
	}
	n.Paths[1].Name = "changed"
	if s.Paths[1].Name != "" {
		t.Error("Normalize's result shares its path list with the input")
	}
}

func TestOverridesApply(t *testing.T) {
	t.Parallel()
	base := scenario.Default()
	base.Paths = []scenario.PathSpec{{Name: "edge", Kind: "haproxy", Settings: map[string]string{"balance": "leastconn"}}}
	base.Sweep = []float64{100, 200}
	before := base.Clone()

	paths := []string{"direct", " edge"}
	rate := 300.0
	dur := 3 * time.Second
	out, err := scenario.Overrides{Paths: &paths, Rate: &rate, Duration: &dur}.Apply(base)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, base) {
		t.Errorf("Apply changed its input: %+v", base)
	}
	if len(out.Paths) != 2 || out.Paths[0].Kind != "direct" || out.Paths[1].Settings["balance"] != "leastconn" {
		t.Errorf("paths = %+v", out.Paths)
	}
	out.Paths[1].Settings["balance"] = "first"
	if base.Paths[0].Settings["balance"] != "leastconn" {
		t.Error("Apply's result shares a settings map with its input")
	}
	if out.Rate != (scenario.Rate{Shape: scenario.ShapeConstant, RPS: 300}) || out.Sweep != nil || out.Duration.D() != dur {
		t.Errorf("rate %+v sweep %v duration %v", out.Rate, out.Sweep, out.Duration.D())
	}
	// Fields not given keep the scenario's values.
	if out.Trials != base.Trials || out.Connections != base.Connections || out.Backend != base.Backend {
		t.Errorf("untouched fields changed: %+v", out)
	}

	target := "https://127.0.0.1:8443/api"
	out, err = scenario.Overrides{Target: &target}.Apply(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Paths) != 1 || out.Paths[0].Kind != "direct" || out.Target != target {
		t.Errorf("target without paths: %+v", out.Paths)
	}

	sweep := []float64{1, 2}
	_, err = scenario.Overrides{Rate: &rate, Sweep: &sweep}.Apply(base)
	if err == nil || errext.Code(err) != errext.BadInputExit || !strings.Contains(err.Error(), "give one") {
		t.Errorf("rate and sweep together: %v", err)
	}
}

// The target rule: http and https, a host, no user info; https is measured.
func TestTargetRule(t *testing.T) {
	t.Parallel()
	for target, want := range map[string]string{
		"http://127.0.0.1:8080/":    "",
		"https://127.0.0.1:8443/":   "",
		"HTTPS://example.test/base": "",
		"https://[::1]:443":         "",
		"ftp://127.0.0.1/":          "not an http:// or https:// URL",
		"127.0.0.1:80":              "not an http:// or https:// URL",
		"http:127.0.0.1":            "not an http:// or https:// URL",
		"http://":                   "names no host",
		"http://:80/":               "names no host",
		"http://user:pw@127.0.0.1/": "user info",
		"http://127.0.0.1/?q=1":     "query",
		"http://127.0.0.1/#top":     "query",
		"http://127.0.0.1:0/":       "port 0",
		"http://127.0.0.1:99999/":   "port 99999",
		"http://127.0.0.1/a\x00b":   "not an http",
	} {
		s := scenario.Default()
		s.Target = target
		err := s.Validate()
		switch {
		case want == "" && err != nil:
			t.Errorf("%q refused: %v", target, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: error %v, want %q", target, err, want)
		}
	}
}
