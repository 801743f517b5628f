package paths

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/proc"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// The exec kind runs any proxy binary from a command and a config template
// given in the scenario. This file also holds what the haproxy and nginx
// kinds share with it: finding a binary, picking a port, checking settings
// and starting a proxy that must be told its port.

func init() {
	register("exec", Kind{Check: checkExec, Start: startExec})
}

// proxyStartTimeout bounds how long a proxy binary may take to answer.
const proxyStartTimeout = 10 * time.Second

// proxyStopGrace is how long a proxy may take to exit on SIGTERM.
const proxyStopGrace = 5 * time.Second

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
		tt, err := template.New(fmt.Sprintf("command[%d]", i)).Funcs(execFuncs).Option("missingkey=error").Parse(arg)
		if err != nil {
			return nil, bad("command[%d]: %v", i, err)
		}
		t.command = append(t.command, tt)
	}
	if e.Config != "" {
		tt, err := template.New("config").Funcs(execFuncs).Option("missingkey=error").Parse(e.Config)
		if err != nil {
			return nil, bad("config: %v", err)
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
		var b strings.Builder
		if err := tt.Execute(&b, d); err != nil {
			return nil, nil, errext.BadInputf("path %s: exec.%v", name, err)
		}
		command = append(command, b.String())
	}
	if command[0] == "" {
		return nil, nil, errext.BadInputf("path %s: exec.command[0] is empty", name)
	}
	if t.config != nil {
		var b bytes.Buffer
		if err := t.config.Execute(&b, d); err != nil {
			return nil, nil, errext.BadInputf("path %s: exec.%v", name, err)
		}
		config = b.Bytes()
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
	cpu, rss, n, err := e.p.GroupUsage()
	if err != nil {
		return nil, err
	}
	return &results.Proxy{Processes: n, CPUSeconds: cpu, MaxRSSBytes: rss, Version: e.version}, nil
}

func (e *execProxy) Stop() error { return e.p.Stop(proxyStopGrace) }

// Pids lists the proxy's live processes.
func (e *execProxy) Pids() []int { return e.p.Pids() }

// --- shared by the binary proxies (haproxy, nginx, exec) ---

// sbinDirs are searched after PATH: haproxy and nginx live in /usr/sbin,
// which is not on an ordinary user's PATH.
var sbinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/sbin"}

// findBinary finds name on PATH or in sbinDirs. Missing is a runtime error
// (exit 1) that ends with hint, which says how to install it.
func findBinary(name, hint string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if !strings.Contains(name, "/") {
		for _, d := range sbinDirs {
			p := filepath.Join(d, name)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%s is not installed: %s", name, hint)
}

// checkName refuses a path name that is unsafe in a file name. Validate
// checks it too; this keeps Check safe when called on its own.
func checkName(spec scenario.PathSpec) error {
	if !scenario.ValidName(spec.Name) {
		return errext.BadInputf("path name %q: use lower-case letters, digits, '.', '_' and '-'", spec.Name)
	}
	return nil
}

// plainPathRE is what a directory may hold to be pasted into a config
// as is: no space, quote, ';', '#' or brace.
var plainPathRE = regexp.MustCompile(`^[A-Za-z0-9_./-]+$`)

// pathDir makes the path's own 0700 directory under the run's temp dir.
func pathDir(env Env, spec scenario.PathSpec) (string, error) {
	if env.TempDir == "" {
		return "", errors.New("no temp dir for the proxy's config")
	}
	dir := filepath.Join(env.TempDir, spec.Kind+"-"+spec.Name)
	if !plainPathRE.MatchString(dir) {
		return "", fmt.Errorf("temp dir %q holds characters a proxy config cannot take unquoted; use a plain path", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o700)
}

// writePrivate writes a config readable by meshbench's user only.
func writePrivate(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil { // an older file may have had another mode
		f.Close()
		return err
	}
	return f.Close()
}

// pickPort is freePort; tests replace it to make ports collide.
var pickPort = freePort

// freePort asks the kernel for a free loopback port. haproxy and nginx
// cannot listen on port 0 and say which port they got, so the port is
// picked here and may be taken by someone else before the proxy binds it;
// launch retries once when that happens.
func freePort() (int, error) { return freePortOn("127.0.0.1") }

// freePortOn asks the kernel for a free port on the IP address host.
func freePortOn(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// checkUpstreams makes sure the replicas are loopback-style host:port pairs
// before they are pasted into a config: they come from meshbench, but a
// config is no place to find out they were not.
func checkUpstreams(ups []string) error {
	if len(ups) == 0 {
		return errors.New("no backend replicas to put the proxy in front of")
	}
	for _, u := range ups {
		h, p, err := net.SplitHostPort(u)
		if err != nil || net.ParseIP(h) == nil {
			return fmt.Errorf("upstream %q is not an IP:port", u)
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("upstream %q: bad port", u)
		}
	}
	return nil
}

// launch starts a proxy on a picked port: prepare writes its config for
// that port and says what to run; ready waits until it answers. The port
// may be taken between picking and binding, and another program on it
// would answer ready's requests too, so launch also checks that the proxy
// itself holds the port. On a conflict over a port it picked it tries
// once more on a new one; a fixed port (env.Port) is not retried.
// On failure nothing is left running and the error names the binary and
// its last line of output.
func launch(ctx context.Context, env Env, name string,
	prepare func(port int) (proc.Spec, error),
	ready func(ctx context.Context, p *proc.Process, port int) error,
) (*proc.Process, int, error) {
	for attempt := 1; ; attempt++ {
		port, err := env.pickPortFor()
		if err != nil {
			return nil, 0, err
		}
		spec, err := prepare(port)
		if err != nil {
			return nil, 0, err
		}
		p, err := proc.Start(ctx, spec)
		if err != nil {
			return nil, 0, err
		}
		taken := false
		err = ready(ctx, p, port)
		if err == nil {
			var mine bool
			if mine, err = p.ListensOn(port); err == nil && mine {
				return p, port, nil
			}
			if err == nil {
				taken = true
				err = fmt.Errorf("another program answers on port %d", port)
			}
		}
		p.Stop(time.Second)
		out := strings.TrimSpace(p.Output())
		taken = taken || strings.Contains(strings.ToLower(out), "address already in use")
		if attempt == 1 && taken && env.Port == 0 {
			if env.Log != nil {
				fmt.Fprintf(env.Log, "path %s: port %d was taken before %s bound it; trying another\n", name, port, spec.Name)
			}
			continue
		}
		if taken {
			err = fmt.Errorf("port %d: address already in use: %w", port, err)
		}
		err = fmt.Errorf("%s (%s) did not start: %w", spec.Name, spec.Path, err)
		if out != "" {
			err = fmt.Errorf("%w; its last output: %s", err, lastLine(out))
		}
		return nil, 0, err
	}
}

var versions sync.Map // binary path → version string

// binaryVersion runs bin with args and keeps the first line that matches
// re (its first group), once per binary.
func binaryVersion(bin string, re *regexp.Regexp, args ...string) string {
	if v, ok := versions.Load(bin); ok {
		return v.(string)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	v := ""
	if m := re.FindSubmatch(out); m != nil {
		v = string(m[1])
	}
	versions.Store(bin, v)
	return v
}

// setting is one key a kind accepts: its default and a check that returns
// the value as it goes into the config. A check builds its result from what
// it parsed (a number, a duration, a word from a list), never from the
// raw text, so no setting can carry config syntax into the file.
type setting struct {
	def   string
	check func(string) (string, error)
}

// binaryPath is what a kind that runs a proxy binary (haproxy, nginx)
// needs before it writes a config: its settings checked, the binary found,
// replicas to proxy to, and a directory of its own in the run's temp dir.
type binaryPath struct {
	settings map[string]string
	bin, dir string
}

func prepareBinary(spec scenario.PathSpec, env Env, table map[string]setting, name, hint string) (binaryPath, error) {
	var b binaryPath
	var err error
	if b.settings, err = applySettings(spec, table); err != nil {
		return b, err
	}
	if b.bin, err = findBinary(name, hint); err != nil {
		return b, err
	}
	if err = checkUpstreams(env.Upstreams); err != nil {
		return b, err
	}
	b.dir, err = pathDir(env, spec)
	return b, err
}

// applySettings checks spec's settings against table and returns every
// key's config value, defaults included. Errors are bad input naming the
// path and the key.
func applySettings(spec scenario.PathSpec, table map[string]setting) (map[string]string, error) {
	if err := checkName(spec); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(spec.Settings)) {
		s, ok := table[k]
		if !ok {
			return nil, errext.BadInputf("path %s: unknown setting %q for kind %s (known: %s)",
				spec.Name, k, spec.Kind, strings.Join(slices.Sorted(maps.Keys(table)), ", "))
		}
		v, err := s.check(spec.Settings[k])
		if err != nil {
			return nil, errext.BadInputf("path %s: setting %s=%q: %v", spec.Name, k, spec.Settings[k], err)
		}
		out[k] = v
	}
	for k, s := range table {
		if _, ok := out[k]; !ok {
			v, err := s.check(s.def)
			if err != nil {
				panic(fmt.Sprintf("default %s=%q of kind %s: %v", k, s.def, spec.Kind, err))
			}
			out[k] = v
		}
	}
	return out, nil
}

func oneOf(words ...string) func(string) (string, error) {
	return func(v string) (string, error) {
		if i := slices.Index(words, v); i >= 0 {
			return words[i], nil
		}
		return "", fmt.Errorf("want one of %s", strings.Join(words, ", "))
	}
}

func intIn(lo, hi int) func(string) (string, error) {
	return func(v string) (string, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return "", fmt.Errorf("want a whole number from %d to %d", lo, hi)
		}
		return strconv.Itoa(n), nil
	}
}

// autoOr accepts "auto" besides what check accepts.
func autoOr(check func(string) (string, error)) func(string) (string, error) {
	return func(v string) (string, error) {
		if v == "auto" {
			return v, nil
		}
		out, err := check(v)
		if err != nil {
			return "", fmt.Errorf("%v, or auto", err)
		}
		return out, nil
	}
}

// durationIn reads a Go duration ("250ms", "5s") and writes it as whole
// seconds or milliseconds, which haproxy and nginx both read.
func durationIn(lo, hi time.Duration) func(string) (string, error) {
	return func(v string) (string, error) {
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi || d%time.Millisecond != 0 {
			return "", fmt.Errorf("want a duration in whole milliseconds from %v to %v (e.g. 500ms, 5s)", lo, hi)
		}
		if d%time.Second == 0 {
			return strconv.FormatInt(int64(d/time.Second), 10) + "s", nil
		}
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms", nil
	}
}
