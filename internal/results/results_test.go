package results_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/results"
)

func trial(t *testing.T, name, kind string, n int, ms ...float64) results.Path {
	t.Helper()
	h := results.NewHistogram()
	for i := 0; i < n; i++ {
		for _, v := range ms {
			if err := h.RecordValue(int64(v * 1e6)); err != nil {
				t.Fatal(err)
			}
		}
	}
	enc, err := results.EncodeHistogram(h)
	if err != nil {
		t.Fatal(err)
	}
	return results.Path{Name: name, Kind: kind, Requests: h.TotalCount(), DurationS: 1,
		AchievedRate: float64(h.TotalCount()), LatencyMs: results.Summarize(h), Histogram: enc}
}

func TestWriteNeverOverwrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := &results.File{Paths: []results.Path{trial(t, "direct", "direct", 10, 1)}}
	name := results.DefaultName("host one/x", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if name != "host_one_x-20260102T030405Z.json" {
		t.Errorf("DefaultName = %q", name)
	}
	a, err := results.Write(dir, name, f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := results.Write(dir, name, f)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("second write reused %s", a)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("want 2 files and no temp files left, got %d", len(entries))
	}
	got, err := results.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Schema != results.Schema || got.Paths[0].LatencyMs.P50 != 1 {
		t.Errorf("round trip: %+v", got.Paths[0].LatencyMs)
	}
}

func TestReadRejectsBadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := map[string]struct{ body, want string }{
		"empty.json":     {"", "empty file"},
		"truncated.json": {`{"schema":"meshbench/v1","paths":[{"name":`, "truncated"},
		"garbage.json":   {`not json`, "not valid JSON"},
		"schema.json":    {`{"schema":"meshbench/v9"}`, `schema "meshbench/v9" is not supported`},
		"noschema.json":  {`{"paths":[]}`, "not a meshbench result"},
		"type.json":      {`{"schema":"meshbench/v1","paths":"x"}`, "wrong type"},
	}
	for name, c := range cases {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := results.Read(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v, want file name and %q", name, err, c.want)
		}
		if errext.Code(err) != errext.BadInputExit {
			t.Errorf("%s: exit %d, want 2", name, errext.Code(err))
		}
	}
	if _, err := results.Read(filepath.Join(dir, "missing.json")); errext.Code(err) != errext.BadInputExit {
		t.Errorf("missing file: %v", err)
	}
}

func TestCheckDirUnwritable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	err := results.CheckDir(filepath.Join(file, "sub"))
	if errext.Code(err) != errext.BadInputExit {
		t.Errorf("CheckDir under a file: %v (exit %d)", err, errext.Code(err))
	}
}

// Merging trials merges histograms: the merged p50 is that of all samples,
// which averaging the trials' p50s would not give.
func TestMergeTrials(t *testing.T) {
	t.Parallel()
	d1 := trial(t, "direct", "direct", 100, 1)
	d2 := trial(t, "direct", "direct", 100, 1)
	h1 := trial(t, "haproxy", "haproxy", 300, 2) // 300 samples at 2 ms
	h2 := trial(t, "haproxy", "haproxy", 100, 10)
	h1.Trial, h2.Trial = 1, 2
	h1.Proxy = &results.Proxy{CPUSeconds: 1.5, MaxRSSBytes: 10}
	h2.Proxy = &results.Proxy{CPUSeconds: 0.5, MaxRSSBytes: 20}
	// One warning both trials gave, and one late-send warning each with
	// its own figures.
	h1.Warnings = []string{"same in both", "load generator woken late by the host: 1.3%"}
	h2.Warnings = []string{"load generator woken late by the host: 0.9%", "same in both"}
	f := &results.File{Paths: []results.Path{d1, h1, h2, d2}}
	m, err := results.MergeTrials(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m[0].Name != "direct" || m[1].Name != "haproxy" {
		t.Fatalf("merged = %+v", m)
	}
	hp := m[1]
	if hp.Trials != 2 || hp.Requests != 400 {
		t.Errorf("trials %d requests %d", hp.Trials, hp.Requests)
	}
	// 300 of 400 samples are 2 ms: p50 is 2 ms; p99 is 10 ms.
	if hp.LatencyMs.P50 < 1.99 || hp.LatencyMs.P50 > 2.01 || hp.LatencyMs.P99 < 9.9 || hp.LatencyMs.P99 > 10.1 {
		t.Errorf("merged percentiles p50 %v p99 %v", hp.LatencyMs.P50, hp.LatencyMs.P99)
	}
	if hp.P50Range[0] < 1.99 || hp.P50Range[0] > 2.01 || hp.P50Range[1] < 9.9 || hp.P50Range[1] > 10.1 {
		t.Errorf("p50 range %v", hp.P50Range)
	}
	if hp.OverheadMs == nil || hp.OverheadMs.P50 < 0.99 || hp.OverheadMs.P50 > 1.01 {
		t.Errorf("overhead %+v", hp.OverheadMs)
	}
	if hp.Proxy.CPUSeconds != 2 || hp.Proxy.MaxRSSBytes != 20 {
		t.Errorf("proxy %+v", hp.Proxy)
	}
	want := []string{"same in both", "trial 1: load generator woken late by the host: 1.3%", "trial 2: load generator woken late by the host: 0.9%"}
	if !slices.Equal(hp.Warnings, want) {
		t.Errorf("warnings %q, want %q", hp.Warnings, want)
	}
	if len(m[0].Warnings) != 0 {
		t.Errorf("direct's warnings %q, want none", m[0].Warnings)
	}
}

// A sweep's steps stay apart: one entry per path and step, named by its
// rate, with overhead against the same step's direct.
func TestMergeTrialsSweep(t *testing.T) {
	t.Parallel()
	var ps []results.Path
	for step, c := range []struct {
		rate            float64
		direct, proxied float64
	}{{500, 1, 2}, {2000, 3, 7}} {
		for tr := 1; tr <= 2; tr++ {
			d := trial(t, "direct", "direct", 100, c.direct)
			h := trial(t, "haproxy", "haproxy", 100, c.proxied)
			for _, p := range []*results.Path{&d, &h} {
				p.Step, p.Trial, p.TargetRate = step+1, step*2+tr, c.rate
			}
			ps = append(ps, d, h)
		}
	}
	m, err := results.MergeTrials(&results.File{Paths: ps})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range m {
		names = append(names, x.Name)
	}
	if got := strings.Join(names, " "); got != "direct@500rps haproxy@500rps direct@2000rps haproxy@2000rps" {
		t.Fatalf("merged names %q", got)
	}
	for i, want := range map[int]float64{1: 1, 3: 4} {
		if o := m[i].OverheadMs; o == nil || o.P50 < want-0.01 || o.P50 > want+0.01 || m[i].Trials != 2 {
			t.Errorf("%s: overhead %+v over %d trials, want p50 +%v ms", m[i].Name, o, m[i].Trials, want)
		}
	}
}
