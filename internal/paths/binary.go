package paths

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/knob"
	"github.com/meshbench/meshbench/internal/proc"
	"github.com/meshbench/meshbench/internal/scenario"
)

// What the binary proxies (haproxy, nginx, exec) share: finding the binary,
// checking settings, a private directory and config file, picking a port and
// starting a proxy that must be told its port, and asking its version.

// proxyStartTimeout bounds how long a proxy binary may take to answer.
const proxyStartTimeout = 10 * time.Second

// proxyStopGrace is how long a proxy may take to exit on SIGTERM.
const proxyStopGrace = 5 * time.Second

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

// freePortOn asks the kernel for a free port on the IP address host.
// haproxy and nginx cannot listen on port 0 and say which port they got,
// so the port is picked here and may be taken by someone else before the
// proxy binds it; launch retries once when that happens.
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
	procs, err := env.procs()
	if err != nil {
		return nil, 0, err
	}
	for attempt := 1; ; attempt++ {
		port, err := env.pickPortFor()
		if err != nil {
			return nil, 0, err
		}
		spec, err := prepare(port)
		if err != nil {
			return nil, 0, err
		}
		p, err := procs.Start(ctx, spec)
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

// binaryVersion runs bin with args in env's process group and returns the
// first group of re in its output ("" when it does not match or bin fails:
// the version is a note in the result, not a reason to stop the run).
func binaryVersion(ctx context.Context, env Env, bin string, re *regexp.Regexp, args ...string) string {
	procs, err := env.procs()
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := procs.Run(ctx, proc.Spec{Name: filepath.Base(bin) + " version", Path: bin, Args: args})
	if m := re.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// binaryPath is what a kind that runs a proxy binary (haproxy, nginx)
// needs before it writes a config: its settings checked, the binary found,
// replicas to proxy to, and a directory of its own in the run's temp dir.
type binaryPath struct {
	settings map[string]string
	bin, dir string
}

func prepareBinary(spec scenario.PathSpec, env Env, table *knob.Table[knob.Values], name, hint string) (binaryPath, error) {
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
func applySettings(spec scenario.PathSpec, table *knob.Table[knob.Values]) (map[string]string, error) {
	if err := checkName(spec); err != nil {
		return nil, err
	}
	var v knob.Values
	if err := table.Apply(&v, spec.Settings); err != nil {
		return nil, errext.BadInputf("path %s: %v", spec.Name, err)
	}
	return table.Values(&v), nil
}
