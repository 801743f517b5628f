package gate_test

import (
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/gate"
	"github.com/meshbench/meshbench/internal/results"
)

func path(name, kind string, p50, p99 float64, errors int64) results.Path {
	h := results.NewHistogram()
	for i := 0; i < 980; i++ {
		h.RecordValue(int64(p50 * 1e6))
	}
	for i := 0; i < 20; i++ { // 2% of samples: p99 lands on them
		h.RecordValue(int64(p99 * 1e6))
	}
	enc, _ := results.EncodeHistogram(h)
	return results.Path{Name: name, Kind: kind, Requests: 1000, Errors: errors, DurationS: 1,
		TargetRate: 1000, AchievedRate: 995, LatencyMs: results.Summarize(h), Histogram: enc}
}

func file(linkerdP99 float64) *results.File {
	return &results.File{Schema: results.Schema, Paths: []results.Path{
		path("direct", "direct", 0.2, 0.5, 0),
		path("linkerd", "linkerd", 1.8, linkerdP99, 3),
	}}
}

func TestParse(t *testing.T) {
	t.Parallel()
	good := map[string]gate.Rule{
		"linkerd.p99<=5ms":                   {Path: "linkerd", Metric: "p99", Op: "<=", Limit: 5},
		"haproxy.overhead.p50 < 800us":       {Path: "haproxy", Metric: "overhead.p50", Op: "<", Limit: 0.8},
		"*.error_rate<=0.1":                  {Path: "*", Metric: "error_rate", Op: "<=", Limit: 0.1},
		"direct.rate_ratio>=98":              {Path: "direct", Metric: "rate_ratio", Op: ">=", Limit: 98},
		"linkerd.service.p99<=+10%":          {Path: "linkerd", Metric: "service.p99", Op: "<=", Limit: 10, Relative: true},
		"linkerd-mtls.p999<=2.5":             {Path: "linkerd-mtls", Metric: "p999", Op: "<=", Limit: 2.5},
		"haproxy-b.p99 <= haproxy-a.p99 +5%": {Path: "haproxy-b", Metric: "p99", Op: "<=", Limit: 5, Relative: true, Against: "haproxy-a"},
		"b.p50<=a.p50+200us":                 {Path: "b", Metric: "p50", Op: "<=", Limit: 0.2, Against: "a"},
		"b.p99<=a.p99":                       {Path: "b", Metric: "p99", Op: "<=", Relative: true, Against: "a"},
		"b.overhead.p99<=a.overhead.p99":     {Path: "b", Metric: "overhead.p99", Op: "<=", Against: "a"},
		"b.errors <= a.errors + 3":           {Path: "b", Metric: "errors", Op: "<=", Limit: 3, Against: "a"},
		"b@500rps.p99<=a@500rps.p99 -5%":     {Path: "b@500rps", Metric: "p99", Op: "<=", Limit: -5, Relative: true, Against: "a@500rps"},
	}
	for text, want := range good {
		r, err := gate.Parse(text)
		if err != nil {
			t.Errorf("%q: %v", text, err)
			continue
		}
		r.Text = ""
		if r != want {
			t.Errorf("%q = %+v, want %+v", text, r, want)
		}
	}
	for _, bad := range []string{"p99<5", "linkerd.p98<=5", "linkerd.p99=5", "linkerd.p99<=fast", "linkerd.overhead.max<=1", "x.p99<=NaN",
		"b.p99<=a.p50", "b.p99<=b.p99", "b.p99<=a.p99 +x%", "b.p99<=-100%", "b.p99<=*.p99", "b.p99<=a.p99 +1parsec"} {
		if _, err := gate.Parse(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func rules(t *testing.T, texts ...string) []gate.Rule {
	var out []gate.Rule
	for _, s := range texts {
		r, err := gate.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	cur := file(20)
	out, err := gate.Evaluate(cur, nil, rules(t, "linkerd.p50<=2ms", "linkerd.p99<=10ms", "linkerd.overhead.p50<=1.7ms", "*.errors<=0"))
	if err != nil {
		t.Fatal(err)
	}
	pass := map[string]bool{}
	for _, o := range out {
		pass[o.Rule.Text+"@"+o.Path] = o.Pass
	}
	want := map[string]bool{
		"linkerd.p50<=2ms@linkerd":            true,
		"linkerd.p99<=10ms@linkerd":           false, // p99 is 20 ms
		"linkerd.overhead.p50<=1.7ms@linkerd": true,  // 1.8 - 0.2 = 1.6
		"*.errors<=0@direct":                  true,
		"*.errors<=0@linkerd":                 false,
	}
	for k, v := range want {
		if got, ok := pass[k]; !ok || got != v {
			t.Errorf("%s: pass=%v (present %v), want %v", k, got, ok, v)
		}
	}
	if gate.Failed(out) != 2 {
		t.Errorf("Failed = %d, want 2", gate.Failed(out))
	}
}

func TestMissingPathIsAnError(t *testing.T) {
	t.Parallel()
	_, err := gate.Evaluate(file(1), nil, rules(t, "linkrd.p99<=5ms"))
	if err == nil || !strings.Contains(err.Error(), `no path "linkrd"`) {
		t.Errorf("misspelt path: %v", err)
	}
}
