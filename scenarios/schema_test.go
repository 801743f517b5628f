package scenarios_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/meshbench/meshbench/internal/hoststats"
	"github.com/meshbench/meshbench/internal/scenario"
	"github.com/meshbench/meshbench/scenarios"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(scenarios.Schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// instance reads YAML as the JSON value a schema validator checks.
func instance(t *testing.T, text string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	return jsonValue(v)
}

func jsonValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonValue(e)
		}
	case map[any]any:
		m := map[string]any{}
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonValue(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonValue(e)
		}
	}
	return v
}

func TestShippedScenariosMatchSchema(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	names, err := fs.Glob(scenarios.Files, "*.yaml")
	if err != nil || len(names) == 0 {
		t.Fatalf("no shipped scenarios: %v", err)
	}
	for _, name := range names {
		data, _ := scenarios.Files.ReadFile(name)
		if !bytes.HasPrefix(data, []byte("# yaml-language-server: $schema=./schema.json\n")) {
			t.Errorf("%s: the first line does not name the schema", name)
		}
		if err := sch.Validate(instance(t, string(data))); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := scenario.Parse(name, data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Scenarios both meshbench and the schema accept.
var valid = []string{
	"",
	"rate: 250\npaths: [direct, haproxy, nginx, linkerd, linkerd-mtls]",
	"paths: [{name: edge, kind: haproxy, settings: {balance: leastconn, maxconn: 100}}]",
	"paths: [{name: haproxy}, {kind: nginx}]",
	"paths: [{name: x, kind: exec, exec: {command: [envoy, --concurrency, 1]}}]",
	"paths: [{name: exec, exec: {command: [caddy]}}]",
	"rate: {shape: linear, rps: 0, end: 100}",
	"rate: {shape: sine, rps: 100, amplitude: 50, period: 5s}",
	"sweep: [100, 200.5]\nknee: {p99_factor: 4}",
	"sweep: [100]\nknee: {p99_max: 10ms}",
	"target: https://127.0.0.1:8443/api\npaths: [direct]",
	"request: {method: POST, path: '/a?b=c', headers: {X-Retry: 1, X-Ok: true}, body: hi}",
	"backend: {replicas: 64, payload: 0, delay: 0, delay_distribution: uniform, error_rate: 1}",
	"host_stats: {disabled: true, probes: [jitter, fsync, audit]}",
	"faults:\n  - {at: 1s, replica: 0, kill: true, restore_after: 3s}\n  - {at: 2s, replica: 1, error_rate: 0.5}\n  - {at: 2s, replica: 2, blackhole: true, kill: false}",
	"faults: [{at: 1s, replica: 0, reset: true}, {at: 0s, replica: 1, delay: 1ms}]",
	"window: 2s\nplacement: split\ntrials: 2\nmax_rounds: 10",
	"gates: [\"linkerd.p99<=5ms\"]",
}

// Scenarios meshbench refuses that the schema can tell are wrong.
var invalid = []string{
	"duraton: 5s",                      // unknown key
	"backend: {replica: 2}",            // unknown nested key
	"paths: [{name: h, knd: haproxy}]", // unknown key in a path
	"paths: [{name: x, kind: exec, exec: {comand: [a]}}]",
	"rate: {shape: constant, rsp: 5}",
	"faults: [{at: 1s, replica: 0, kil: true}]",
	"knee: {p99: 1ms}\nsweep: [1]",
	"paths: [frob]", // bad enums
	"paths: [{name: a, kind: frob}]",
	"paths: [{name: frob}]",
	"rate: {shape: square}",
	"placement: cpu0",
	"backend: {delay_distribution: normal}",
	"host_stats: {probes: [smart]}",
	"host_stats: {probes: [jitter, jitter]}",
	"connections: -1", // negative counts
	"trials: 0",
	"backend: {replicas: -2}",
	"backend: {payload: -1}",
	"max_rounds: -1",
	"faults: [{at: 1s, replica: -1, kill: true}]",
	"connections: 10001", // bounds
	"trials: 101",
	"backend: {replicas: 65}",
	"backend: {payload: 67108865}",
	"rate: 1000001",
	"rate: 0",
	"sweep: [0]",
	"sweep: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21]",
	"max_rounds: 101",
	"backend: {error_rate: 1.5}",
	"faults: [{at: 1s, replica: 0, error_rate: -0.1}]",
	"knee: {p99_factor: 1}\nsweep: [1]",
	"knee: {p99_max: 1ms, p99_factor: 3}\nsweep: [1]",
	"knee: {p99_factor: 3}",
	"name: " + strings.Repeat("n", 129),
	"description: " + strings.Repeat("d", 2049),
	"description: \"a\\x1bb\"",
	"request: {body: " + strings.Repeat("b", 65537) + "}",
	"paths: [{name: A, kind: direct}]", // bad values
	"trials: 2.5",
	"duration: fast",
	"duration: 10",
	"warmup: -1s",
	"faults: [{at: 1s, replica: 0}]",
	"faults: [{at: 1s, replica: 0, kill: true, reset: true}]",
	"faults: [{at: 1s, replica: 0, kill: false}]",
	"request: {headers: {Host: x}}",
	"request: {headers: {content-length: '1'}}",
	"request: {headers: {'X A': '1'}}",
	"request: {headers: {X-A: \"1\\r\\n\"}}",
	"request: {path: index.html}",
	"request: {path: '/a b'}",
	"request: {path: '/a#b'}",
	"request: {method: 'GE T'}",
	"request: {method: CONNECT}",
	"target: ftp://127.0.0.1/",
	"target: http://u:p@127.0.0.1/",
	"target: http://127.0.0.1/?q=1",
	"rate: {rps: 5, end: 10}",
	"rate: {shape: sine, rps: 5, amplitude: 1}",
	"paths: [exec]",
	"paths: [{name: x, kind: exec}]",
	"paths: [{name: x, kind: haproxy, exec: {command: [a]}}]",
	"paths: []",
	"paths: [{name: h, kind: haproxy, settings: {balance: 'a;b'}}]",
	"paths: [{name: h, kind: haproxy, settings: {Bad: x}}]",
}

func TestSchemaAgreesWithDecoder(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	for _, text := range valid {
		if _, err := scenario.Parse("v.yaml", []byte(text+"\n")); err != nil {
			t.Errorf("meshbench refuses %q: %v", text, err)
		}
		if err := sch.Validate(instance(t, text)); err != nil {
			t.Errorf("schema refuses %q: %v", text, err)
		}
	}
	for _, text := range invalid {
		if _, err := scenario.Parse("i.yaml", []byte(text+"\n")); err == nil {
			t.Errorf("meshbench accepts %.80q", text)
		}
		if err := sch.Validate(instance(t, text)); err == nil {
			t.Errorf("schema accepts %.80q", text)
		}
	}
}

// The schema's bounds and lists are the scenario package's: a bound changed
// in one place and not the other fails here.
func TestSchemaBoundsMatchLimits(t *testing.T) {
	t.Parallel()
	var doc map[string]any
	if err := json.Unmarshal(scenarios.Schema, &doc); err != nil {
		t.Fatal(err)
	}
	at := func(path string) any {
		var v any = doc
		for _, k := range strings.Split(path, "/") {
			switch x := v.(type) {
			case map[string]any:
				v = x[k]
			case []any:
				var i int
				fmt.Sscan(k, &i)
				v = x[i]
			}
		}
		return v
	}
	num := func(path string) float64 { f, _ := at(path).(float64); return f }
	strs := func(path string) []string {
		var out []string
		for _, v := range at(path).([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	for path, want := range map[string]float64{
		"properties/name/maxLength":                            scenario.MaxNameBytes,
		"properties/description/maxLength":                     scenario.MaxDescriptionBytes,
		"properties/paths/maxItems":                            scenario.MaxPaths,
		"properties/sweep/maxItems":                            scenario.MaxSweepSteps,
		"properties/trials/maximum":                            scenario.MaxTrials,
		"properties/max_rounds/maximum":                        scenario.MaxTrials,
		"properties/connections/maximum":                       scenario.MaxConnections,
		"properties/target/maxLength":                          scenario.MaxTargetBytes,
		"properties/faults/maxItems":                           scenario.MaxFaults,
		"properties/gates/maxItems":                            scenario.MaxGates,
		"properties/gates/items/maxLength":                     scenario.MaxGateBytes,
		"$defs/rps/maximum":                                    scenario.MaxRate,
		"$defs/rateShape/properties/rps/maximum":               scenario.MaxRate,
		"$defs/rateShape/properties/end/maximum":               scenario.MaxRate,
		"$defs/path/oneOf/1/properties/settings/maxProperties": scenario.MaxSettings,
		"$defs/exec/properties/command/maxItems":               scenario.MaxExecArgs,
		"$defs/request/properties/path/maxLength":              scenario.MaxRequestPathBytes,
		"$defs/request/properties/headers/maxProperties":       scenario.MaxHeaders,
		"$defs/request/properties/body/maxLength":              scenario.MaxBodyBytes,
		"$defs/backend/properties/replicas/maximum":            scenario.MaxReplicas,
		"$defs/backend/properties/payload/maximum":             scenario.MaxPayload,
		"$defs/fault/properties/replica/maximum":               scenario.MaxReplicas - 1,
		"$defs/knee/properties/p99_factor/maximum":             scenario.MaxKneeP99Factor,
	} {
		if got := num(path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	for path, want := range map[string][]string{
		"$defs/path/oneOf/1/properties/kind/enum":          scenario.Kinds,
		"$defs/rateShape/properties/shape/enum":            scenario.Shapes,
		"properties/placement/enum":                        scenario.Placements,
		"$defs/backend/properties/delay_distribution/enum": scenario.DelayDistributions,
		"$defs/hostStats/properties/probes/items/enum":     hoststats.ProbeNames,
	} {
		if got := strs(path); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	// Every key of the Go types is in the schema, and no other.
	if got, want := keys(at("properties")), yamlKeys(reflect.TypeFor[scenario.Scenario]()); !slices.Equal(got, want) {
		t.Errorf("top-level keys: schema %v, Go %v", got, want)
	}
	for def, typ := range map[string]reflect.Type{
		"$defs/request":      reflect.TypeFor[scenario.Request](),
		"$defs/backend":      reflect.TypeFor[scenario.Backend](),
		"$defs/hostStats":    reflect.TypeFor[scenario.HostStats](),
		"$defs/fault":        reflect.TypeFor[scenario.Fault](),
		"$defs/knee":         reflect.TypeFor[scenario.Knee](),
		"$defs/exec":         reflect.TypeFor[scenario.Exec](),
		"$defs/rateShape":    reflect.TypeFor[scenario.Rate](),
		"$defs/path/oneOf/1": reflect.TypeFor[scenario.PathSpec](),
	} {
		if got, want := keys(at(def+"/properties")), yamlKeys(typ); !slices.Equal(got, want) {
			t.Errorf("%s keys: schema %v, Go %v", def, got, want)
		}
	}
}

func keys(v any) []string {
	var out []string
	for k := range v.(map[string]any) {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func yamlKeys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if k := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]; k != "" && k != "-" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
