package paths

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/proc"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// The exec kind runs any proxy binary from a command and a config template
// given in the scenario; meshbench fills in the listen address and the
// upstreams, starts it and waits until it answers.
func init() {
	register("exec", Kind{Check: checkExec, Start: startExec})
}

// ExecData is what the command and config templates of an exec path see.
type ExecData struct {
	// Listen is the host:port the proxy must listen on (127.0.0.1).
	Listen string
	// ListenPort is Listen's port alone.
	ListenPort int
	// Upstreams are the backend replicas as host:port.
	Upstreams []string
	// TempDir is the path's own 0700 directory, for the config and anything
	// else the proxy wants to write.
	TempDir string
	// Config is the rendered config file's path ("" without a config template).
	Config string
}

// execFuncs split an upstream for configs that want host and port apart
// (Envoy's socket_address) and join lists (Caddy's reverse_proxy).
var execFuncs = template.FuncMap{
	"host": func(hostport string) (string, error) {
		h, _, err := net.SplitHostPort(hostport)
		return h, err
	},
	"port": func(hostport string) (string, error) {
		_, p, err := net.SplitHostPort(hostport)
		return p, err
	},
	"join": strings.Join,
}

var configNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// execTemplates is an exec spec, parsed.
type execTemplates struct {
	command    []*template.Template
	config     *template.Template // nil without a config
	configName string
	ready      string
	pkg        string
}

func parseExec(spec scenario.PathSpec) (*execTemplates, error) {
	bad := func(format string, args ...any) error {
		return errext.BadInputf("path %s: exec.%s", spec.Name, fmt.Sprintf(format, args...))
	}
	e := spec.Exec
	if e == nil || len(e.Command) == 0 {
		return nil, bad("command: kind exec needs a command")
	}
	t := &execTemplates{configName: e.ConfigName, ready: e.Ready, pkg: e.Package}
	for i, arg := range e.Command {
		tt, err := parseTemplate(fmt.Sprintf("command[%d]", i), arg)
		if err != nil {
			return nil, bad("%v", err)
		}
		t.command = append(t.command, tt)
	}
	if e.Config != "" {
		tt, err := parseTemplate("config", e.Config)
		if err != nil {
			return nil, bad("%v", err)
		}
		t.config = tt
		if t.configName == "" {
			t.configName = "proxy.conf"
		}
	}
	if e.ConfigName != "" && !configNameRE.MatchString(e.ConfigName) {
		return nil, bad("config_name %q: want a plain file name (letters, digits, '.', '_', '-')", e.ConfigName)
	}
	if t.ready == "" {
		t.ready = "/"
	}
	if !strings.HasPrefix(t.ready, "/") || strings.ContainsFunc(t.ready, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, bad("ready %q: want an HTTP path such as /ready", e.Ready)
	}
	return t, nil
}

// render fills in the templates. A template that refers to something
// ExecData lacks is the scenario's error.
func (t *execTemplates) render(name string, d ExecData) (command []string, config []byte, err error) {
	for _, tt := range t.command {
		b, err := execute(tt, d, maxRenderedArg)
		if err != nil {
			return nil, nil, errext.BadInputf("path %s: exec.%v", name, err)
		}
		command = append(command, string(b))
	}
	if command[0] == "" {
		return nil, nil, errext.BadInputf("path %s: exec.command[0] is empty", name)
	}
	if t.config != nil {
		if config, err = execute(t.config, d, maxRenderedConfig); err != nil {
			return nil, nil, errext.BadInputf("path %s: exec.%v", name, err)
		}
	}
	return command, config, nil
}

// RenderExec renders an exec path's command and config as Start would, for
// showing or testing what a template makes.
func RenderExec(spec scenario.PathSpec, d ExecData) (command []string, config string, err error) {
	t, err := parseExec(spec)
	if err != nil {
		return nil, "", err
	}
	if t.config != nil && d.Config == "" {
		d.Config = filepath.Join(d.TempDir, t.configName)
	}
	cmd, cfg, err := t.render(spec.Name, d)
	return cmd, string(cfg), err
}

func checkExec(spec scenario.PathSpec, env Env) error {
	if err := checkName(spec); err != nil {
		return err
	}
	if len(spec.Settings) > 0 {
		return errext.BadInputf("path %s: kind exec takes no settings; put them in exec.config", spec.Name)
	}
	t, err := parseExec(spec)
	if err != nil {
		return err
	}
	// A trial render catches references to fields that do not exist before
	// anything starts.
	ups := env.Upstreams
	if len(ups) == 0 {
		ups = []string{"127.0.0.1:1"}
	}
	cmd, _, err := t.render(spec.Name, ExecData{Listen: "127.0.0.1:1", ListenPort: 1, Upstreams: ups, TempDir: env.TempDir, Config: filepath.Join(env.TempDir, t.configName)})
	if err != nil {
		return err
	}
	_, err = findBinary(cmd[0], t.packageFor(cmd[0]))
	return err
}

// packageFor says what to install when bin is missing: the scenario's
// exec.package, or else the binary's own name.
func (t *execTemplates) packageFor(bin string) string {
	if t.pkg != "" {
		return "install " + t.pkg
	}
	return "install " + filepath.Base(bin)
}

// execProxy is a started exec path.
type execProxy struct {
	p       *proc.Process
	target  string
	version string
}

func startExec(ctx context.Context, spec scenario.PathSpec, env Env) (Instance, error) {
	if err := checkExec(spec, env); err != nil {
		return nil, err
	}
	t, _ := parseExec(spec) // checked above
	dir, err := pathDir(env, spec)
	if err != nil {
		return nil, err
	}
	var bin string
	p, port, err := launch(ctx, env, spec.Name, func(port int) (proc.Spec, error) {
		d := ExecData{Listen: env.hostPort(port), ListenPort: port, Upstreams: env.Upstreams, TempDir: dir}
		if t.config != nil {
			d.Config = filepath.Join(dir, t.configName)
		}
		cmd, cfg, err := t.render(spec.Name, d)
		if err != nil {
			return proc.Spec{}, err
		}
		if bin, err = findBinary(cmd[0], t.packageFor(cmd[0])); err != nil {
			return proc.Spec{}, err
		}
		if t.config != nil {
			if err := writePrivate(d.Config, cfg); err != nil {
				return proc.Spec{}, err
			}
		}
		return proc.Spec{Name: filepath.Base(bin), Path: bin, Args: cmd[1:], Dir: dir}, nil
	}, func(ctx context.Context, p *proc.Process, port int) error {
		return proc.WaitHTTP(ctx, "http://"+env.dialAddr(port)+t.ready, proxyStartTimeout, p)
	})
	if err != nil {
		return nil, err
	}
	return &execProxy{p: p, target: "http://" + env.dialAddr(port), version: filepath.Base(bin)}, nil
}

func (e *execProxy) Targets() []string { return []string{e.target} }

// Usage sums the proxy's whole process group, as a proxy may fork workers.
func (e *execProxy) Usage(context.Context) (*results.Proxy, error) {
	g, err := e.p.GroupUsage()
	if err != nil {
		return nil, err
	}
	return &results.Proxy{Processes: g.Processes, CPUSeconds: g.CPUSeconds, MaxRSSBytes: g.RSSBytes, MaxProcessRSSBytes: g.MaxProcessRSSBytes, Version: e.version}, nil
}

func (e *execProxy) Stop() error { return e.p.Stop(proxyStopGrace) }

// Settings is nil: an exec path's settings are in its config template.
func (e *execProxy) Settings() map[string]string { return nil }

// Pids lists the proxy's live processes.
func (e *execProxy) Pids() []int { return e.p.Pids() }
