package scenario_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/scenario"
)

// TestBadInputClasses holds every class of bad scenario input: bounds on
// sizes and counts, non-finite numbers, reserved or malformed request parts,
// windows too short to measure. Each is refused by Parse with exit 2 and one
// line naming the position and, for a bound, the bound.
func TestBadInputClasses(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n) }
	many := func(n int, f func(i int) string) string {
		var parts []string
		for i := range n {
			parts = append(parts, f(i))
		}
		return strings.Join(parts, ", ")
	}
	cases := []struct {
		name, yaml, want string
	}{
		// Sizes and counts.
		{"connections huge", "connections: 9223372036854775807", "1:14: connections must be at most 10000 (MaxConnections)"},
		{"connections zero", "connections: 0", "connections must be at least 1, got 0"},
		{"duration huge", "duration: 2562047h", "duration must be at most 1h0m0s (MaxDuration)"},
		{"duration overflow", "duration: 99999999999h", `"99999999999h" is not a duration`},
		{"warmup huge", "warmup: 11m", "warmup must be at most 10m0s (MaxWarmup)"},
		{"warmup negative", "warmup: -1s", "warmup must not be negative"},
		{"send_batch huge", "send_batch: 1ms", "send_batch must be at most 250µs (MaxSendBatch)"},
		{"send_batch negative", "send_batch: -1us", `send_batch "-1us" must not be negative`},
		{"send_batch word", "send_batch: sometimes", `send_batch "sometimes" is not auto, off or a duration`},
		{"rate huge", "rate: 1e7", "at most 100000 requests/s (MaxRate)"},
		{"linear end huge", "rate: {shape: linear, rps: 1, end: 2e6}", "0 to 100000 requests/s (MaxRate)"},
		{"payload huge", "backend: {payload: 67108865}", "backend: payload 67108865 is out of range"},
		{"payload negative", "backend: {payload: -1}", "backend: payload -1 is out of range"},
		{"replicas huge", "backend: {replicas: 65}", "backend replicas must be at most 64 (MaxReplicas)"},
		{"trials huge", "trials: 101", "trials must be at most 100 (MaxTrials)"},
		{"sweep steps", "sweep: [" + many(21, func(i int) string { return fmt.Sprint(100 + i) }) + "]", "at most 20 steps (MaxSweepSteps)"},
		{"timeout huge", "timeout: 3m", "timeout must be at most 1m0s (MaxTimeout)"},
		{"timeout tiny", "timeout: 1us", "timeout must be at least 1ms (MinTimeout)"},
		{"timeout zero", "timeout: 0s", "timeout must be above 0"},
		{"body huge", "request: {method: POST, body: " + long(scenario.MaxBodyBytes+1) + "}", "at most 65536 (MaxBodyBytes)"},
		{"headers count", "request: {headers: {" + many(65, func(i int) string { return fmt.Sprintf("X-%d: v", i) }) + "}}", "at most 64 request headers (MaxHeaders)"},
		{"headers size", "request: {headers: {X-Big: " + long(scenario.MaxHeaderBytes) + "}}", "at most 8192 (MaxHeaderBytes)"},
		{"gates count", "gates: [" + many(65, func(int) string { return "direct.p99<=5ms" }) + "]", "at most 64 gates (MaxGates)"},
		{"gate size", "gates: [\"direct.p99<=5ms" + long(300) + "\"]", "at most 256 (MaxGateBytes)"},
		{"faults count", "faults: [" + many(33, func(int) string { return "{at: 1s, replica: 0, kill: true}" }) + "]", "at most 32 faults (MaxFaults)"},
		{"paths count", "paths: [" + many(17, func(i int) string { return fmt.Sprintf("{name: p%d, kind: direct}", i) }) + "]", "at most 16 paths (MaxPaths)"},
		{"settings count", "paths: [{name: h, kind: haproxy, settings: {" + many(65, func(i int) string { return fmt.Sprintf("k%d: v", i) }) + "}}]", "at most 64 settings (MaxSettings)"},
		{"exec args", "paths: [{name: e, kind: exec, exec: {command: [" + many(65, func(int) string { return "a" }) + "]}}]", "at most 64 (MaxExecArgs)"},
		{"description", "description: " + long(scenario.MaxDescriptionBytes+1), "description is 2049 bytes; at most 2048 (MaxDescriptionBytes)"},
		{"name", "name: " + long(scenario.MaxNameBytes+1), "at most 128 (MaxNameBytes)"},
		{"request path long", "request: {path: /" + long(scenario.MaxRequestPathBytes) + "}", "at most 4096 (MaxRequestPathBytes)"},
		{"target long", "target: http://127.0.0.1/" + long(scenario.MaxTargetBytes), "at most 2048 (MaxTargetBytes)"},
		{"backend delay huge", "backend: {delay: 3m}", "backend delay must be at most 1m0s (MaxDelay)"},
		{"fault delay huge", "faults: [{at: 1s, replica: 0, delay: 3m}]", "faults[0]: delay must be at most 1m0s (MaxDelay)"},
		{"interval huge", "host_stats: {interval: 2m}", "at most 1m0s (MaxInterval)"},
		{"run too long", "duration: 1h\nwindow: 1h\ntrials: 30", "at most 24h0m0s (MaxRunTime)"},
		{"too many measurements", "duration: 100ms\nwarmup: 0s\ntrials: 100\npaths: [" + many(16, func(i int) string { return fmt.Sprintf("{name: p%d, kind: direct}", i) }) + "]\nsweep: [100, 200]", "at most 2000 (MaxMeasurements)"},
		{"connections under replicas", "connections: 2\nbackend: {replicas: 3}", "connections (2) must be at least the backend replicas (3)"},

		// Numbers that are not finite.
		{"rate NaN", "rate: .nan", "rate must be above 0 and at most 100000 requests/s (MaxRate), got NaN"},
		{"rate Inf", "rate: .inf", "got +Inf"},
		{"rate NaN rps", "rate: {rps: .nan}", "got NaN"},
		{"linear end NaN", "rate: {shape: linear, rps: 5, end: .nan}", "got 5 and NaN"},
		{"linear start -Inf", "rate: {shape: linear, rps: -.inf, end: 5}", "got -Inf and 5"},
		{"sine amplitude NaN", "rate: {shape: sine, rps: 5, amplitude: .nan, period: 1s}", "amplitude NaN"},
		{"sine period zero", "rate: {shape: sine, rps: 5, amplitude: 1, period: 0s}", "sine rate period must be above 0"},
		{"sine period tiny", "rate: {shape: sine, rps: 5, amplitude: 1, period: 1ns}", "sine rate period must be at least 100ms"},
		{"sweep NaN", "sweep: [100, .nan]", "sweep[1]: rate must be above 0 and at most 100000 requests/s (MaxRate), got NaN"},
		{"sweep Inf", "sweep: [.inf]", "got +Inf"},
		{"backend error rate NaN", "backend: {error_rate: .nan}", "error rate NaN is not in [0,1]"},
		{"fault error rate NaN", "faults: [{at: 1s, replica: 0, error_rate: .nan}]", "faults[0]: error_rate must be within 0 and 1"},
		{"rate word NaN", "rate: NaN", `rate "NaN" is not a number`},

		// Request parts.
		{"header Host", "request: {headers: {Host: evil}}", "request header Host is set by meshbench itself"},
		{"header host lower", "request: {headers: {host: evil}}", "request header Host is set by meshbench itself"},
		{"header Content-Length", "request: {headers: {Content-Length: '5'}}", "request header Content-Length is set by meshbench itself"},
		{"header Transfer-Encoding", "request: {headers: {Transfer-Encoding: chunked}}", "request header Transfer-Encoding is set by meshbench itself"},
		{"header Connection", "request: {headers: {Connection: close}}", "request header Connection is set by meshbench itself"},
		{"header twice by case", "request: {headers: {X-A: '1', x-a: '2'}}", "given twice"},
		{"header name space", "request: {headers: {'X A': '1'}}", `request header name "X A" is not a valid HTTP token`},
		{"header value newline", "request: {headers: {X-A: \"1\\r\\nHost: evil\"}}", "value holds a line break or another control character"},
		{"header value NUL", "request: {headers: {X-A: \"a\\0b\"}}", "value holds a line break or another control character"},
		{"method space", "request: {method: 'GE T'}", `request method "GE T" is not an HTTP method`},
		{"method empty", "request: {method: ''}", `request method "" is not an HTTP method`},
		{"method CONNECT", "request: {method: CONNECT}", "CONNECT opens a tunnel"},
		{"path relative", "request: {path: index.html}", `request path "index.html" must start with /`},
		{"path empty", "request: {path: ''}", `request path "" must start with /`},
		{"path newline", "request: {path: \"/a\\nb\"}", `byte 2 ('\n') is not allowed`},
		{"path NUL", "request: {path: \"/a\\0\"}", `byte 2 ('\x00') is not allowed`},
		{"path DEL", "request: {path: \"/a\\x7f\"}", `byte 2 ('\x7f') is not allowed`},
		{"path space", "request: {path: /a b}", `byte 2 (' ') is not allowed`},
		{"path fragment", "request: {path: '/a#b'}", `byte 2 ('#') is not allowed`},
		{"path non-ASCII", "request: {path: /é}", `is not allowed`},

		// Windows too short to measure.
		{"duration 1ns", "duration: 1ns", "duration must be at least 100ms (MinDuration), got 1ns"},
		{"duration zero", "duration: 0s", "duration must be above 0"},
		{"no request in window", "rate: 0.5\nduration: 1s", "a 1s window at 0.5 requests/s holds 0.5 requests"},
		{"no request in sweep step", "sweep: [0.1, 100]\nduration: 5s", "a 1s window at 0.1 requests/s holds 0.1 requests"},

		// Text that reaches terminals and reports.
		{"name escape", "name: \"run\\e[31m\"", "name holds a control character at byte 3"},
		{"description escape", "description: \"a\\x1b[2Jb\"", "description holds a control character at byte 1"},

		// Stray fields of another shape.
		{"end without linear", "rate: {rps: 5, end: 10}", "rate end is for a linear rate; this one is constant"},
		{"period without sine", "rate: {rps: 5, period: 1s}", "rate amplitude and period are for a sine rate"},
		{"probe twice", "host_stats: {probes: [jitter, jitter]}", `probe "jitter" is listed twice`},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("case %q twice", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := scenario.Parse("b.yaml", []byte(c.yaml+"\n"))
			if err == nil {
				t.Fatalf("accepted:\n%.200s", c.yaml)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q\nwant it to contain %q", msg, c.want)
			}
			if !strings.HasPrefix(msg, "b.yaml:") || strings.Contains(msg, "\n") {
				t.Errorf("error is not one line naming the file: %q", msg)
			}
			if code := errext.Code(err); code != errext.BadInputExit {
				t.Errorf("exit code %d, want 2", code)
			}
		})
	}
}

// The same classes arrive through flags, without a file: Overrides lay
// them over a valid scenario and Validate refuses them.
func TestBadOverrides(t *testing.T) {
	t.Parallel()
	nan, inf, tiny := math.NaN(), math.Inf(1), time.Nanosecond
	huge := math.MaxInt
	cases := []struct {
		name string
		o    scenario.Overrides
		want string
	}{
		{"--rate NaN", scenario.Overrides{Rate: &nan}, "got NaN"},
		{"--rate Inf", scenario.Overrides{Rate: &inf}, "got +Inf"},
		{"--sweep NaN", scenario.Overrides{Sweep: &[]float64{100, nan}}, "sweep[1]"},
		{"--duration 1ns", scenario.Overrides{Duration: &tiny}, "at least 100ms (MinDuration)"},
		{"--connections max", scenario.Overrides{Connections: &huge}, "(MaxConnections)"},
		{"--replicas max", scenario.Overrides{Replicas: &huge}, "(MaxReplicas)"},
		{"--trials max", scenario.Overrides{Trials: &huge}, "(MaxTrials)"},
		{"--payload max", scenario.Overrides{Payload: &huge}, "payload"},
		{"--target userinfo", scenario.Overrides{Target: ptr("http://u:p@127.0.0.1/")}, "user info"},
		{"--paths none", scenario.Overrides{Paths: &[]string{}}, "no paths to measure"},
	}
	for _, c := range cases {
		sc, err := c.o.Apply(scenario.Default())
		if err == nil {
			err = sc.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || errext.Code(err) != errext.BadInputExit {
			t.Errorf("%s: %v (exit %d), want exit 2 with %q", c.name, err, errext.Code(err), c.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// Values at their bounds are accepted: the bounds are limits, not typos.
func TestBoundsAccepted(t *testing.T) {
	t.Parallel()
	text := fmt.Sprintf(`
connections: %d
duration: 1h
warmup: 10m
timeout: 1m
send_batch: 250us
rate: 1e5
backend: {replicas: %d, payload: %d, delay: 1m}
host_stats: {interval: 1m}
request: {method: purge, path: "/a/b?c=d&e=%%2F", headers: {X-Trace.Id: a}}
description: %s
`, scenario.MaxConnections, scenario.MaxReplicas, scenario.MaxPayload, strings.Repeat("d", scenario.MaxDescriptionBytes))
	sc, err := scenario.Parse("ok.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Connections != scenario.MaxConnections || sc.Request.Method != "purge" {
		t.Errorf("%+v", sc)
	}
}
