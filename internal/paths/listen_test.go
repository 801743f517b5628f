package paths_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/paths"
	"github.com/meshbench/meshbench/internal/scenario"
)

// TestListenHostAndPort: with Env.Host and Env.Port every proxy kind
// listens on that address and port (here 127.0.0.2, another loopback
// address, so that a proxy still on 127.0.0.1 would be caught), and a
// fixed port that is taken is an error rather than another port.
func TestListenHostAndPort(t *testing.T) {
	requireBinary(t, "haproxy")
	requireBinary(t, "nginx")
	t.Parallel()
	_, ups := replicas(t, 2)
	for _, kind := range []string{"haproxy", "nginx", "linkerd"} {
		t.Run(kind, func(t *testing.T) {
			env := testEnv(t, ups)
			if kind == "linkerd" {
				env = linkerdEnv(t, ups)
			}
			env.Host, env.Port = "127.0.0.2", freePortOn(t, "127.0.0.2")
			inst := start(t, scenario.PathSpec{Name: "fixed", Kind: kind}, env)
			want := "http://" + net.JoinHostPort("127.0.0.2", strconv.Itoa(env.Port))
			if tg := inst.Targets(); len(tg) != 1 || tg[0] != want {
				t.Fatalf("Targets() = %v, want [%s]", tg, want)
			}
			getN(t, want, 5)
			if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(env.Port))); err == nil {
				c.Close()
				t.Errorf("%s also answers on 127.0.0.1:%d", kind, env.Port)
			}
		})
	}
	t.Run("taken", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		env := testEnv(t, ups)
		env.Host, env.Port = "127.0.0.2", ln.Addr().(*net.TCPAddr).Port
		inst, err := paths.Start(t.Context(), scenario.PathSpec{Name: "taken", Kind: "haproxy"}, env)
		if err == nil {
			inst.Stop()
			t.Fatalf("haproxy started on port %d, which another listener holds", env.Port)
		}
		if !strings.Contains(err.Error(), strconv.Itoa(env.Port)) {
			t.Errorf("error %q does not name port %d", err, env.Port)
		}
	})
}

func freePortOn(t *testing.T, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
