package runner

import (
	"context"
	"fmt"
	"github.com/meshbench/meshbench/internal/proc"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncSite is a local site served on 127.0.0.2 with a fixed first
// replica port, that records the windows Run synchronises.
type syncSite struct {
	Site
	mu    sync.Mutex
	order []int
}

func (s *syncSite) SyncWindow(_ context.Context, w Window) (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.order = append(s.order, w.N)
	return 3 * time.Millisecond, nil
}

// TestSyncerAndListen: a site that implements Syncer is asked before every
// window, in the plan's order, and a site made by NewLocalSite puts its
// replicas where Listen says.
func TestSyncerAndListen(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	base := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	sc := shortScenario("direct")
	procs := proc.NewGroup()
	defer procs.Close(time.Second)
	site := &syncSite{Site: NewLocalSite(sc, Env{}, procs, t.TempDir(), Listen{Host: "127.0.0.2", BackendPort: base})}
	plan := NewPlan(sc)
	obs := &lines{}
	f, err := Run(context.Background(), plan, Env{Site: site}, obs)
	if err != nil {
		t.Fatal(err)
	}
	ws := plan.Windows()
	if len(site.order) != len(ws) {
		t.Fatalf("synchronised %d windows, the plan has %d", len(site.order), len(ws))
	}
	for i, n := range site.order {
		if n != ws[i].N {
			t.Errorf("sync %d was window %d, want %d", i, n, ws[i].N)
		}
	}
	for _, p := range f.Paths {
		if p.Errors != 0 || p.Requests == 0 {
			t.Errorf("%s: %d requests, %d errors", p.Name, p.Requests, p.Errors)
		}
	}
	if len(f.Notes) != 0 {
		t.Errorf("a run on another site carries the shared-CPU note: %v", f.Notes)
	}
	// The replicas were on 127.0.0.2 from the fixed port up; Run stopped them.
	if want := "127.0.0.2:" + strconv.Itoa(base) + " 127.0.0.2:" + strconv.Itoa(base+1); !strings.Contains(obs.String(), want) {
		t.Errorf("the backend line does not show replicas at %s: %q", want, obs.String())
	}
	for i := range sc.Backend.Replicas {
		addr := net.JoinHostPort("127.0.0.2", strconv.Itoa(base+i))
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Errorf("replica %d still answers on %s after the run", i, addr)
		}
	}
}

// lines keeps an observer's lines.
type lines struct {
	quiet
	mu sync.Mutex
	b  strings.Builder
}

func (l *lines) Line(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, format+"\n", args...)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestUpstreamOfWildcard(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:80":   "127.0.0.1:80",
		"[::]:80":      "[::1]:80",
		"10.0.0.5:80":  "10.0.0.5:80",
		"127.0.0.1:80": "127.0.0.1:80",
	} {
		if got := upstream(in); got != want {
			t.Errorf("upstream(%q) = %q, want %q", in, got, want)
		}
	}
	if !strings.Contains(upstream("junk"), "junk") {
		t.Errorf("an address that does not parse is passed on as is")
	}
}
