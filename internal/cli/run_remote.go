package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/remote"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/runner"
	"github.com/meshbench/meshbench/internal/scenario"
)

// remoteOptions are run's flags for a two-host run.
type remoteOptions struct {
	url       string
	tokenFile string
	share     string
	// shareIndexEnv names a variable holding this agent's 0-based index
	// (Kubernetes' JOB_COMPLETION_INDEX); shareCount is N.
	shareIndexEnv string
	shareCount    int
}

// active reports whether any two-host flag was given.
func (o remoteOptions) active() bool {
	return o.url != "" || o.tokenFile != "" || o.share != "" || o.shareIndexEnv != "" || o.shareCount != 0
}

// parseShare reads the agent's share from --share I/N, or from
// --share-index-env and --share-count; without them the agent is the only one.
func parseShare(o remoteOptions, getenv func(string) string) (remote.Share, error) {
	byEnv := o.shareIndexEnv != "" || o.shareCount != 0
	switch {
	case o.share != "" && byEnv:
		return remote.Share{}, errext.BadInputf("--share and --share-index-env/--share-count both set this agent's share: give one")
	case o.share != "":
		i, n, ok := strings.Cut(o.share, "/")
		idx, err1 := strconv.Atoi(i)
		cnt, err2 := strconv.Atoi(n)
		sh := remote.Share{Index: idx, Count: cnt}
		if !ok || err1 != nil || err2 != nil || sh.Check() != nil {
			return sh, errext.BadInputf("--share %q: want I/N with 1 ≤ I ≤ N, e.g. 2/3", o.share)
		}
		return sh, nil
	case byEnv:
		if o.shareIndexEnv == "" || o.shareCount < 1 {
			return remote.Share{}, errext.BadInputf("--share-index-env and --share-count go together (N ≥ 1)")
		}
		v := getenv(o.shareIndexEnv)
		idx, err := strconv.Atoi(v)
		sh := remote.Share{Index: idx + 1, Count: o.shareCount}
		if err != nil || sh.Check() != nil {
			return sh, errext.BadInputf("--share-index-env %s=%q: want an index from 0 to %d", o.shareIndexEnv, v, o.shareCount-1)
		}
		return sh, nil
	}
	return remote.Share{Index: 1, Count: 1}, nil
}

// dialRemote checks the two-host flags and reaches the server: its
// certificate and the token are checked here, before anything is measured.
func dialRemote(ctx context.Context, w *World, o remoteOptions, sc *scenario.Scenario) (*remote.Site, remote.Share, error) {
	share, err := parseShare(o, w.Getenv)
	if err != nil {
		return nil, share, err
	}
	switch {
	case o.url == "":
		return nil, share, errext.BadInputf("--token-file and --share need --remote https://HOST:PORT (a meshbench serve host)")
	case o.tokenFile == "":
		return nil, share, errext.BadInputf("--remote needs --token-file FILE, the file meshbench serve wrote")
	case sc.Target != "":
		return nil, share, errext.BadInputf("--target and --remote: measure an existing endpoint from this host, without --remote")
	}
	creds, err := remote.ReadCredentials(o.tokenFile)
	if err != nil {
		return nil, share, err
	}
	c, err := remote.NewClient(o.url, creds)
	if err != nil {
		return nil, share, err
	}
	site, err := remote.Dial(ctx, c, sc, share)
	return site, share, err
}

// shareRates gives this agent its 1/N of every step's rate; the scenario
// kept in the result still says the whole run's rate.
func shareRates(plan *runner.Plan, share remote.Share) {
	if share.Count <= 1 {
		return
	}
	n := float64(share.Count)
	for i := range plan.Steps {
		r := &plan.Steps[i].Rate
		r.RPS, r.End, r.Amplitude = r.RPS/n, r.End/n, r.Amplitude/n
	}
}

// markRemote records the agent's share and the two hosts in the result.
func markRemote(f *results.File, share remote.Share, url string) {
	if share.Count > 1 {
		f.Agent = &results.Agent{Index: share.Index, Count: share.Count}
	}
	server := "the server"
	if f.ServerHost != nil {
		server = f.ServerHost.Hostname
	}
	f.Notes = append(f.Notes, fmt.Sprintf("two hosts: the load generator ran on %s, the backend and paths on %s (%s); host_stats are the load generator's, server_host_stats the server's", f.Host.Hostname, server, url))
	if share.Count > 1 {
		f.Notes = append(f.Notes, fmt.Sprintf("agent %d of %d: this file holds 1/%d of the run's rate; meshbench merge combines the agents' files", share.Index, share.Count, share.Count))
	}
}
