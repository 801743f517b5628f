package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/runner"
	"github.com/meshbench/meshbench/internal/scenario"
)

func TestMain(m *testing.M) {
	// Each session owns a process group and stops it; the reaper ends
	// whatever a failed test left running when the test binary exits.
	os.Exit(m.Run())
}

// testServer starts a server on 127.0.0.1 with its token file in a temp
// dir; the test's end stops it and waits for Serve to return.
func testServer(t *testing.T, cfg Config) (*Server, <-chan error) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.TokenFile = filepath.Join(t.TempDir(), "token")
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		// Closed after the value, so that the cleanup's receive returns
		// also when the test took the value.
		done <- s.Serve(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s, done
}

// shortScenario measures the direct path at a low rate in short windows.
func shortScenario() *scenario.Scenario {
	sc := scenario.Default()
	sc.Rate = scenario.Rate{Shape: "constant", RPS: 200}
	sc.Duration = scenario.Duration(time.Second)
	sc.Warmup = scenario.Duration(200 * time.Millisecond)
	sc.Backend.Replicas = 2
	sc.HostStats.Interval = scenario.Duration(250 * time.Millisecond)
	return sc
}

func client(t *testing.T, s *Server, creds Credentials) *Client {
	t.Helper()
	c, err := NewClient("https://"+s.Addr(), creds)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nothingStarted checks that the server has no session: no replica, no path.
func nothingStarted(t *testing.T, s *Server) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess != nil {
		t.Errorf("a session was started")
	}
}

func sessionBody(t *testing.T, sc *scenario.Scenario, sh Share) sessionRequest {
	raw, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	return sessionRequest{Scenario: raw, Agent: sh}
}

// TestWrongToken: without the token, or with another one, every endpoint
// answers 401 and nothing starts.
func TestWrongToken(t *testing.T) {
	t.Parallel()
	s, _ := testServer(t, Config{})
	creds := s.Credentials()
	body, _ := json.Marshal(sessionBody(t, shortScenario(), Share{1, 1}))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: pinnedTLS(creds.Fingerprint)}}
	for _, auth := range []string{"", "Bearer ", "Bearer " + creds.Token + "x", "Basic " + creds.Token, "bearer " + creds.Token} {
		req, _ := http.NewRequest(http.MethodPost, "https://"+s.Addr()+"/v1/session", bytes.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q: %s, WWW-Authenticate %q; want 401 with a Bearer challenge", auth, resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
	}
	wrong := creds
	wrong.Token = strings.Repeat("0", 64)
	c := client(t, s, wrong)
	_, err := Dial(context.Background(), c, shortScenario(), Share{1, 1})
	if errext.Code(err) != errext.BadInputExit || !strings.Contains(err.Error(), "401") {
		t.Errorf("Dial with a wrong token: %v (exit %d), want bad input naming 401", err, errext.Code(err))
	}
	nothingStarted(t, s)
}

// TestPinnedCertificate: a client whose token file pins another
// certificate refuses the server before it sends the token.
func TestPinnedCertificate(t *testing.T) {
	t.Parallel()
	s, _ := testServer(t, Config{})
	other, _ := testServer(t, Config{})
	creds := s.Credentials()
	creds.Fingerprint = other.Credentials().Fingerprint
	c := client(t, s, creds)
	_, err := Dial(context.Background(), c, shortScenario(), Share{1, 1})
	if errext.Code(err) != errext.BadInputExit || !strings.Contains(err.Error(), "certificate has SHA-256") {
		t.Errorf("Dial to a server with another certificate: %v (exit %d), want a one-line bad input naming the certificate", err, errext.Code(err))
	}
	nothingStarted(t, s)
	// The right fingerprint gets through.
	if _, err := Dial(context.Background(), client(t, s, s.Credentials()), shortScenario(), Share{1, 1}); err != nil {
		t.Errorf("Dial with the right credentials: %v", err)
	}
}

// TestBodyLimit: a body over the limit is refused with 413 and starts nothing.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	s, _ := testServer(t, Config{})
	sc := shortScenario()
	sc.Description = strings.Repeat("x", maxBody+1)
	c := client(t, s, s.Credentials())
	err := c.call(context.Background(), http.MethodPost, "/v1/session", sessionBody(t, sc, Share{1, 1}), nil)
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("an oversized body: %v, want 413", err)
	}
	nothingStarted(t, s)
	// Unknown fields are refused too: the API is strict.
	err = c.call(context.Background(), http.MethodPost, "/v1/session", map[string]any{"scenario": json.RawMessage(`{}`), "agnet": 1}, nil)
	if errext.Code(err) != errext.BadInputExit {
		t.Errorf("a body with an unknown field: %v, want bad input", err)
	}
	nothingStarted(t, s)
}

// TestTokenFile: the file is 0600, the client reads what the server wrote,
// a restart keeps the token but pins a new certificate, and a bad file is
// refused as bad input.
func TestTokenFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	_, leaf1, err := newCertificate("127.0.0.1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c1, err := prepareCredentials(path, leaf1)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	read, err := ReadCredentials(path)
	if err != nil || read != c1 || len(c1.Token) != 64 {
		t.Fatalf("read back %+v (%v), wrote %+v", read, err, c1)
	}
	os.Chmod(path, 0o644)
	_, leaf2, _ := newCertificate("127.0.0.1", time.Now())
	c2, err := prepareCredentials(path, leaf2)
	if err != nil || c2.Token != c1.Token || c2.Fingerprint == c1.Fingerprint {
		t.Errorf("restart: token kept %v, fingerprint changed %v (%v)", c2.Token == c1.Token, c2.Fingerprint != c1.Fingerprint, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("rewritten token file mode %v, want 0600", fi.Mode().Perm())
	}
	for name, text := range map[string]string{
		"short token":    "token abc\ncert-sha256 " + strings.Repeat("ab", 32) + "\n",
		"no fingerprint": "token " + strings.Repeat("a", 64) + "\n",
		"bad line":       "password hunter2\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.WriteFile(p, []byte(text), 0o600)
		if _, err := ReadCredentials(p); errext.Code(err) != errext.BadInputExit {
			t.Errorf("%s: %v, want bad input", name, err)
		}
	}
	if _, err := ReadCredentials(filepath.Join(dir, "missing")); errext.Code(err) != errext.BadInputExit {
		t.Errorf("a missing file: %v, want bad input", err)
	}
}

// TestSharedRun: two agents of one run, each with half the rate, measure
// the same server through runner.Run at once. The server holds each window
// until both are there, gives both the same host figures, ends the session
// after the second agent and (Once) then stops. The agents' files merge
// into one whose counts are the sums.
func TestSharedRun(t *testing.T) {
	t.Parallel()
	s, done := testServer(t, Config{Once: true})
	sc := shortScenario()
	files := make([]*results.File, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range files {
		sh := Share{Index: i + 1, Count: 2}
		site, err := Dial(context.Background(), client(t, s, s.Credentials()), sc, sh)
		if err != nil {
			t.Fatal(err)
		}
		plan := runner.NewPlan(sc)
		for k := range plan.Steps {
			plan.Steps[k].Rate.RPS /= 2
		}
		wg.Go(func() {
			files[i], errs[i] = runner.Run(context.Background(), plan, runner.Env{Site: site}, nil)
			if files[i] != nil {
				files[i].Agent = &results.Agent{Index: sh.Index, Count: sh.Count}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("agent %d: %v", i+1, err)
		}
	}
	if err := <-done; err != nil {
		t.Errorf("Serve after the session: %v", err)
	}
	nothingStarted(t, s)
	for i, f := range files {
		if f.ServerHost == nil || len(f.Paths) != 2 {
			t.Fatalf("agent %d: server host %v, %d rows", i+1, f.ServerHost, len(f.Paths))
		}
		for k, p := range f.Paths {
			if p.Errors != 0 || p.Requests < 80 || p.ServerHostStats == nil || p.ServerHostStats.CPU == nil {
				t.Errorf("agent %d %s: %d requests, %d errors, server stats %+v", i+1, p.Name, p.Requests, p.Errors, p.ServerHostStats)
			}
			if k < len(files[0].Paths) && *p.ServerHostStats.CPU != *files[0].Paths[k].ServerHostStats.CPU {
				t.Errorf("%s: agents got different server figures for the same windows", p.Name)
			}
		}
	}
	m, err := results.MergeAgents([]string{"a", "b"}, files)
	if err != nil {
		t.Fatal(err)
	}
	for k, p := range m.Paths {
		h, _ := results.DecodeHistogram(p.Histogram)
		sum := files[0].Paths[k].Requests + files[1].Paths[k].Requests
		if p.Requests != sum || h.TotalCount() != sum || p.TargetRate != 200 {
			t.Errorf("merged %s: %d requests, histogram %d, target %g; want %d, %d, 200", p.Name, p.Requests, h.TotalCount(), p.TargetRate, sum, sum)
		}
	}
}

// TestBarrierTimeout: a window whose second agent never comes fails after
// the barrier timeout, as a runtime error rather than bad input.
func TestBarrierTimeout(t *testing.T) {
	t.Parallel()
	s, _ := testServer(t, Config{BarrierTimeout: 100 * time.Millisecond})
	site, err := Dial(context.Background(), client(t, s, s.Credentials()), shortScenario(), Share{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := site.Open(context.Background(), logObserver{s}); err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	spec := scenario.PathSpec{Name: "direct", Kind: "direct"}
	if _, err := site.StartPath(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	_, err = site.SyncWindow(context.Background(), runner.Window{N: 1, Path: spec})
	if err == nil || errext.IsBadInput(err) || !strings.Contains(err.Error(), "1 of 2 agents arrived") {
		t.Errorf("a window with one of two agents: %v, want a runtime error saying 1 of 2 arrived", err)
	}
}

// TestJoinChecks: a second agent must bring the same scenario, the same
// agent count and its own index.
func TestJoinChecks(t *testing.T) {
	t.Parallel()
	s, _ := testServer(t, Config{})
	c := client(t, s, s.Credentials())
	sc := shortScenario()
	if err := c.call(context.Background(), http.MethodPost, "/v1/session", sessionBody(t, sc, Share{1, 2}), nil); err != nil {
		t.Fatal(err)
	}
	other := shortScenario()
	other.Backend.Payload = 10
	for name, req := range map[string]sessionRequest{
		"other scenario": sessionBody(t, other, Share{2, 2}),
		"other count":    sessionBody(t, sc, Share{2, 3}),
		"same index":     sessionBody(t, sc, Share{1, 2}),
		"bad share":      sessionBody(t, sc, Share{3, 2}),
	} {
		err := c.call(context.Background(), http.MethodPost, "/v1/session", req, nil)
		if errext.Code(err) != errext.BadInputExit {
			t.Errorf("%s: %v, want bad input", name, err)
		}
	}
	if err := c.call(context.Background(), http.MethodPost, "/v1/session", sessionBody(t, sc, Share{2, 2}), nil); err != nil {
		t.Errorf("agent 2 with the same scenario: %v", err)
	}
}

// TestOffers: without a scenario the server offers the built-in kinds but
// no exec path; fixed ports are listed, and replicas that would cover
// another path's fixed port are refused before anything starts.
func TestOffers(t *testing.T) {
	t.Parallel()
	s, _ := testServer(t, Config{Ports: map[string]int{"direct": 17410, "haproxy": 17411}})
	c := client(t, s, s.Credentials())
	list, err := c.Paths(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]PathInfo{}
	for _, p := range list {
		got[p.Name] = p
	}
	if _, ok := got["exec"]; ok || got["haproxy"].FixedPort != 17411 || got["linkerd"].Kind != "linkerd" || got["direct"].Started {
		t.Errorf("offered paths %+v", list)
	}
	sc := shortScenario()
	sc.Paths = []scenario.PathSpec{{Name: "x", Kind: "exec", Exec: &scenario.Exec{Command: []string{"true"}}}}
	err = c.call(context.Background(), http.MethodPost, "/v1/session", sessionBody(t, sc, Share{1, 1}), nil)
	if errext.Code(err) != errext.BadInputExit || !strings.Contains(err.Error(), "exec") {
		t.Errorf("an exec path from the client: %v, want bad input", err)
	}
	sc = shortScenario() // 2 replicas on 17410 and 17411: haproxy's port
	err = c.call(context.Background(), http.MethodPost, "/v1/session", sessionBody(t, sc, Share{1, 1}), nil)
	if errext.Code(err) != errext.BadInputExit || !strings.Contains(err.Error(), "haproxy=17411") {
		t.Errorf("replicas over a fixed port: %v, want bad input naming it", err)
	}
	nothingStarted(t, s)
}

// TestIdleTimeout: a server nobody calls stops by itself.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	_, done := testServer(t, Config{IdleTimeout: 50 * time.Millisecond})
	if err := <-done; err != nil {
		t.Errorf("Serve after the idle timeout: %v", err)
	}
}

func TestPhase(t *testing.T) {
	for _, c := range []struct {
		sh   Share
		rps  float64
		want time.Duration
	}{
		{Share{1, 1}, 1000, 0},
		{Share{1, 2}, 500, 0},
		{Share{2, 2}, 500, time.Millisecond},
		{Share{3, 4}, 250, 2 * time.Millisecond},
		{Share{2, 2}, 0, 0},
	} {
		if got := Phase(c.sh, c.rps); got != c.want {
			t.Errorf("Phase(%v, %g) = %s, want %s", c.sh, c.rps, got, c.want)
		}
	}
}

func TestClientURL(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:7400", "https://127.0.0.1", "https://127.0.0.1:7400/v1", "127.0.0.1:7400", "https://u:p@h:1"} {
		if _, err := NewClient(u, Credentials{}); errext.Code(err) != errext.BadInputExit {
			t.Errorf("NewClient(%q): %v, want bad input", u, err)
		}
	}
	if _, err := NewClient("https://[::1]:7400", Credentials{}); err != nil {
		t.Errorf("an IPv6 URL: %v", err)
	}
}

// TestAbandonedSession: a run whose agents stopped calling gives way to
// the next one, which a run still in progress does not.
func TestAbandonedSession(t *testing.T) {
	t.Parallel()
	s, _ := testServer(t, Config{})
	c := client(t, s, s.Credentials())
	sc := shortScenario()
	if err := c.call(context.Background(), http.MethodPost, "/v1/session", sessionBody(t, sc, Share{1, 1}), nil); err != nil {
		t.Fatal(err)
	}
	if err := c.call(context.Background(), http.MethodPost, "/v1/session", sessionBody(t, sc, Share{1, 1}), nil); errext.Code(err) != errext.BadInputExit {
		t.Fatalf("a second run while one is in progress: %v, want refused", err)
	}
	s.mu.Lock()
	old := s.sess
	old.used.Store(time.Now().Add(-time.Hour).UnixNano())
	s.mu.Unlock()
	if err := c.call(context.Background(), http.MethodPost, "/v1/session", sessionBody(t, sc, Share{1, 1}), nil); err != nil {
		t.Fatalf("a run after an abandoned one: %v", err)
	}
	old.mu.Lock()
	defer old.mu.Unlock()
	if !old.closed {
		t.Errorf("the abandoned run was not stopped")
	}
}
