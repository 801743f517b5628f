package scenario_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/scenario"
)

func TestParseEmptyIsDefault(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"", "# only a comment\n", "---\n"} {
		sc, err := scenario.Parse("e.yaml", []byte(text))
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if sc.Name != "default" || sc.Rate.RPS != 1000 {
			t.Errorf("%q: %+v", text, sc)
		}
	}
}

// Anchors, aliases and merge keys are YAML; the key checks follow them.
func TestParseAnchorsAndMerges(t *testing.T) {
	t.Parallel()
	sc, err := scenario.Parse("a.yaml", []byte(`
common: &c {replicas: 2, payload: 10}
`))
	if err == nil || !strings.Contains(err.Error(), `a.yaml:2:1: unknown key "common"`) {
		t.Errorf("unknown anchor holder: %v (%+v)", err, sc)
	}
	sc, err = scenario.Parse("a.yaml", []byte(`
backend: &b
  replicas: 2
  payload: 10
request:
  headers: {X-A: &v one, X-B: *v}
`))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Backend.Replicas != 2 || sc.Request.Headers["X-B"] != "one" {
		t.Errorf("aliases: %+v %+v", sc.Backend, sc.Request)
	}
	_, err = scenario.Parse("a.yaml", []byte(`
paths:
  - &hap {name: hap, kind: haproxy}
  - {<<: *hap, name: hap2, frob: 1}
`))
	if err == nil || !strings.Contains(err.Error(), `a.yaml:4:28: unknown key "frob"`) {
		t.Errorf("merge with an unknown key: %v", err)
	}
}

func TestLoadBounds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	// A file one byte over the bound, made of a valid scenario and a comment.
	body := "rate: 10\n#" + strings.Repeat("x", scenario.MaxFileBytes)
	if err := os.WriteFile(big, []byte(body[:scenario.MaxFileBytes+1]), 0o600); err != nil {
		t.Fatal(err)
	}
	atBound := filepath.Join(dir, "at.yaml")
	if err := os.WriteFile(atBound, []byte(body[:scenario.MaxFileBytes]), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := scenario.Load(atBound); err != nil {
		t.Errorf("a file of exactly MaxFileBytes: %v", err)
	}
	cases := map[string]string{
		big:                             "at most 1048576 bytes (MaxFileBytes)",
		filepath.Join(dir, "none.yaml"): "no such file",
		dir:                             "is a directory",
	}
	for path, want := range cases {
		_, err := scenario.Load(path)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("Load(%s) = %v, want %q", path, err, want)
		}
		if errext.Code(err) != errext.BadInputExit {
			t.Errorf("Load(%s): exit %d, want 2", path, errext.Code(err))
		}
	}
}
