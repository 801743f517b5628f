package paths_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/scenario"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// execSpec loads a shipped scenario file, validates it as a run would,
// and returns its exec path.
func execSpec(t *testing.T, file string) scenario.PathSpec {
	t.Helper()
	sc, err := scenario.Load(filepath.Join("..", "..", "scenarios", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Validate(); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, p := range sc.Paths {
		if p.Kind == "exec" {
			return p
		}
	}
	t.Fatalf("%s has no exec path", file)
	return scenario.PathSpec{}
}

func caddySpec(t *testing.T) scenario.PathSpec { return execSpec(t, "exec-caddy.yaml") }

// goldenData is the fixed input the golden renders use.
var goldenData = paths.ExecData{
	Listen: "127.0.0.1:10000", ListenPort: 10000,
	Upstreams: []string{"127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8083"},
	TempDir:   "/tmp/meshbench-golden/exec-envoy",
}

// TestExecEnvoyGolden renders the shipped Envoy scenario with fixed inputs
// and compares command and config with testdata/envoy.golden (envoy itself
// is not installed here; -update rewrites the file). The config must also
// be YAML with the listener port and every replica in the cluster.
func TestExecEnvoyGolden(t *testing.T) {
	t.Parallel()
	cmd, cfg, err := paths.RenderExec(execSpec(t, "exec-envoy.yaml"), goldenData)
	if err != nil {
		t.Fatal(err)
	}
	got := "# command\n" + strings.Join(cmd, " ") + "\n# config\n" + cfg
	golden := filepath.Join("testdata", "envoy.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("render differs from %s (run with -update if the change is meant):\n%s", golden, got)
	}
	var boot struct {
		StaticResources struct {
			Listeners []struct {
				Address struct {
					SocketAddress struct {
						Address   string `yaml:"address"`
						PortValue int    `yaml:"port_value"`
					} `yaml:"socket_address"`
				} `yaml:"address"`
			} `yaml:"listeners"`
			Clusters []struct {
				LbPolicy       string `yaml:"lb_policy"`
				LoadAssignment struct {
					Endpoints []struct {
						LbEndpoints []struct {
							Endpoint struct {
								Address struct {
									SocketAddress struct {
										Address   string `yaml:"address"`
										PortValue int    `yaml:"port_value"`
									} `yaml:"socket_address"`
								} `yaml:"address"`
							} `yaml:"endpoint"`
						} `yaml:"lb_endpoints"`
					} `yaml:"endpoints"`
				} `yaml:"load_assignment"`
			} `yaml:"clusters"`
		} `yaml:"static_resources"`
	}
	if err := yaml.Unmarshal([]byte(cfg), &boot); err != nil {
		t.Fatalf("rendered config is not YAML: %v", err)
	}
	sr := boot.StaticResources
	if len(sr.Listeners) != 1 || sr.Listeners[0].Address.SocketAddress.PortValue != 10000 || sr.Listeners[0].Address.SocketAddress.Address != "127.0.0.1" {
		t.Errorf("listeners: %+v", sr.Listeners)
	}
	if len(sr.Clusters) != 1 || sr.Clusters[0].LbPolicy != "ROUND_ROBIN" || len(sr.Clusters[0].LoadAssignment.Endpoints) != 1 {
		t.Fatalf("clusters: %+v", sr.Clusters)
	}
	eps := sr.Clusters[0].LoadAssignment.Endpoints[0].LbEndpoints
	if len(eps) != 3 || eps[2].Endpoint.Address.SocketAddress.PortValue != 8083 {
		t.Errorf("endpoints: %+v", eps)
	}
}

// TestExecCaddyRender: the shipped Caddy config renders to JSON with
// every replica, admin off and the listen address meshbench chose.
func TestExecCaddyRender(t *testing.T) {
	t.Parallel()
	cmd, cfg, err := paths.RenderExec(caddySpec(t), goldenData)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cmd, " ") != "caddy run --config /tmp/meshbench-golden/exec-envoy/caddy.json" {
		t.Errorf("command %q", cmd)
	}
	var c struct {
		Admin struct{ Disabled bool }
		Apps  struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string
					Routes []struct {
						Handle []struct {
							Upstreams []struct{ Dial string }
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		t.Fatalf("rendered config is not JSON: %v\n%s", err, cfg)
	}
	srv := c.Apps.HTTP.Servers["proxy"]
	if !c.Admin.Disabled || len(srv.Listen) != 1 || srv.Listen[0] != "127.0.0.1:10000" ||
		len(srv.Routes) != 1 || len(srv.Routes[0].Handle) != 1 || len(srv.Routes[0].Handle[0].Upstreams) != 3 {
		t.Errorf("config: %+v", c)
	}
}

// TestExecCaddy runs the shipped Caddy scenario against the real caddy.
func TestExecCaddy(t *testing.T) {
	requireBinary(t, "caddy")
	t.Parallel()
	srvs, ups := replicas(t, 2)
	env := testEnv(t, ups)
	inst := start(t, caddySpec(t), env)
	if s := inst.Settings(); s != nil {
		t.Errorf("Settings() = %v; an exec path's settings are in its template", s)
	}
	getN(t, oneLocalTarget(t, inst), 40)
	everyReplicaServed(t, srvs)
	u := loadUntilCPU(t, inst)
	t.Logf("caddy: %+v", u)
	if u.CPUSeconds <= 0 || u.MaxRSSBytes <= 0 || u.Processes != 1 || u.Version != "caddy" {
		t.Errorf("usage %+v: want CPU, RSS, one process named caddy", u)
	}
	checkPrivate(t, filepath.Join(env.TempDir, "exec-caddy"), "caddy.json")
	stopsClean(t, inst, pidsOf(t, inst))
}

// TestExecBadSpecs: template and spec mistakes are the user's (exit 2),
// found by Check before anything starts; so are templates that would render
// without bound or loop without writing.
func TestExecBadSpecs(t *testing.T) {
	t.Parallel()
	env := testEnv(t, []string{"127.0.0.1:1", "127.0.0.1:2"})
	huge := `{{range .Upstreams}}{{printf "%999999d" 1}}{{end}}` // 2 MB from 2 replicas
	for _, c := range []struct {
		exec     *scenario.Exec
		settings map[string]string
		want     string
	}{
		{&scenario.Exec{Command: []string{"caddy", "run", "--config", "{{.Config"}}, nil, "command[3]"},
		{&scenario.Exec{Command: []string{"caddy", "--listen", "{{.Port}}"}}, nil, "Port"},
		{&scenario.Exec{Command: []string{"caddy"}, Config: "{{range .Upstreams}}{{.Host}}{{end}}"}, nil, "config"},
		{&scenario.Exec{Command: []string{"caddy"}, Config: "{{index .Nope 1}}"}, nil, "Nope"},
		{&scenario.Exec{Command: []string{"caddy"}, Config: "x", ConfigName: "../caddy.json"}, nil, "config_name"},
		{&scenario.Exec{Command: []string{"caddy"}, Ready: "ready"}, nil, "ready"},
		{&scenario.Exec{Command: []string{"caddy"}, Ready: "/a b"}, nil, "ready"},
		{&scenario.Exec{Command: []string{"{{if false}}x{{end}}"}}, nil, "command[0] is empty"},
		{&scenario.Exec{}, nil, "needs a command"},
		{nil, nil, "needs a command"},
		{&scenario.Exec{Command: []string{"caddy"}}, map[string]string{"workers": "2"}, "no settings"},
		{&scenario.Exec{Command: []string{"caddy"}, Config: "{{range 20000000}}x{{end}}"}, nil, "range over the number 20000000"},
		{&scenario.Exec{Command: []string{"caddy"}, Config: huge}, nil, "exec.config renders to more than 1 MiB, the bound on a rendered config"},
		{&scenario.Exec{Command: []string{"caddy", huge}}, nil, "exec.command[1] renders to more than 128 KiB, the bound on a rendered command argument"},
		{&scenario.Exec{Command: []string{"caddy"}, Config: "{{range .Upstreams}}{{range $.Upstreams}}{{end}}{{end}}"}, nil, "a range inside a range"},
		{&scenario.Exec{Command: []string{"caddy"}, Config: `{{define "x"}}{{template "x"}}{{end}}{{template "x"}}`}, nil, "define and block"},
		{&scenario.Exec{Command: []string{"caddy"}, Config: `{{template "config"}}`}, nil, "template calls"},
	} {
		spec := scenario.PathSpec{Name: "x", Kind: "exec", Exec: c.exec, Settings: c.settings}
		refused(t, spec, env, c.want)
	}
}

// TestExecMissing: a binary that is not installed is named with the
// scenario's package hint, as a runtime error (exit 1).
func TestExecMissing(t *testing.T) {
	t.Parallel()
	env := testEnv(t, []string{"127.0.0.1:1"})
	spec := scenario.PathSpec{Name: "x", Kind: "exec", Exec: &scenario.Exec{Command: []string{"meshbench-no-such-proxy"}, Package: "foo-proxy"}}
	err := paths.Check(spec, env)
	if err == nil || err.Error() != "meshbench-no-such-proxy is not installed: install foo-proxy" || errext.Code(err) != 1 {
		t.Errorf("got %v (exit %d)", err, errext.Code(err))
	}
}

// TestExecFailsToStart: a proxy that exits at once is reported with its
// binary and last line of output, and nothing is left running; one that
// answers but on another port than it was told is caught too.
func TestExecFailsToStart(t *testing.T) {
	t.Parallel()
	env := testEnv(t, []string{"127.0.0.1:1"})
	spec := scenario.PathSpec{Name: "x", Kind: "exec", Exec: &scenario.Exec{Command: []string{"sh", "-c", "echo starting; echo 'bad config at line 3' >&2; exit 1"}}}
	_, err := paths.Start(context.Background(), spec, env)
	if err == nil || !strings.Contains(err.Error(), "sh (/") || !strings.HasSuffix(err.Error(), "its last output: bad config at line 3") || errext.Code(err) != 1 {
		t.Errorf("got %v", err)
	}
	if left := runningIn(env.TempDir); len(left) > 0 {
		t.Errorf("failed start left %v running", left)
	}
}

// TestExecRenderBound: a template whose output depends on the listen port
// passes the trial render (port 1) and is still cut at the bound when it
// renders for real: 40000 lines of 1 MB would be 40 GB.
func TestExecRenderBound(t *testing.T) {
	t.Parallel()
	spec := scenario.PathSpec{Name: "x", Kind: "exec", Exec: &scenario.Exec{
		Command: []string{"caddy"}, Config: `{{range .ListenPort}}{{printf "%999999d" 1}}{{end}}`}}
	d := goldenData
	d.ListenPort = 40000
	_, cfg, err := paths.RenderExec(spec, d)
	if errext.Code(err) != 2 || !strings.Contains(fmt.Sprint(err), "more than 1 MiB") || cfg != "" {
		t.Errorf("got %d bytes, %v (exit %d); want exit 2 naming the 1 MiB bound", len(cfg), err, errext.Code(err))
	}
}
