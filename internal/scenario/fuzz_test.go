package scenario_test

import (
	"encoding/json"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/scenario"
	"github.com/meshbench/meshbench/scenarios"
)

// FuzzParse: whatever the text, Parse returns one line of bad input (exit 2)
// or a scenario that passes Validate, can be written into a result file, and
// reads back from that JSON copy as the same scenario. A plain `go test`
// runs the seeds: every shipped scenario and a few edge cases.
func FuzzParse(f *testing.F) {
	names, err := fs.Glob(scenarios.Files, "*.yaml")
	if err != nil || len(names) == 0 {
		f.Fatalf("no shipped scenarios: %v", err)
	}
	for _, name := range names {
		data, err := scenarios.Files.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"rate: .nan",
		"paths: [direct, {name: h, kind: haproxy, settings: {a: 1}}]\nrate: {shape: sine, rps: 5, amplitude: 5, period: 1s}",
		"sweep: [1e3, 2e3]\nknee: {p99_factor: 2.5}\nwindow: 1s\nduration: 2s",
		"faults: [{at: 1s, replica: 0, kill: true, restore_after: 2s}, {at: 1s, replica: 1, error_rate: 0}]",
		"request: {method: POST, headers: {X-A: \"\\u2028<&>\"}, body: \"\\u00e9\"}\ndescription: \"tab\\there\\nline\"",
		"a: &a [*a]",
		"rate: 1\n---\n",
		"backend: {<<: {replicas: 2}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := scenario.Parse("f.yaml", data)
		if err != nil {
			msg := err.Error()
			if errext.Code(err) != errext.BadInputExit || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "f.yaml") {
				t.Fatalf("error is not one line of bad input naming the file (exit %d): %q", errext.Code(err), msg)
			}
			return
		}
		if err := sc.Validate(); err != nil {
			t.Fatalf("Parse accepted a scenario Validate refuses: %v", err)
		}
		copyInResult, err := json.Marshal(sc)
		if err != nil {
			t.Fatalf("a valid scenario cannot be written into a result file: %v", err)
		}
		back, err := scenario.Parse("result.json", copyInResult)
		if err != nil {
			t.Fatalf("the result file's copy does not read back: %v\n%s", err, copyInResult)
		}
		if !reflect.DeepEqual(sc, back) {
			t.Fatalf("the result file's copy reads back different:\n%+v\n%+v", sc, back)
		}
	})
}
