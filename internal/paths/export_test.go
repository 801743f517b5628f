package paths

import (
	"context"
	"fmt"
	"strconv"
)

// Hooks for the external tests, which run sequentially when they use them.
var (
	SbinDirs = &sbinDirs
	FreePort = func() (int, error) { return freePortOn("127.0.0.1") }
)

// ParseShowStat and HAProxyCounters expose the stats parsing to fixtures.
var (
	ParseShowStat   = parseShowStat
	HAProxyCounters = haproxyCounters
)

// HAProxyServerSessions is each server's sessions so far by address
// (show stat's stot), which health checks do not count.
func HAProxyServerSessions(ctx context.Context, inst Instance) (map[string]int, error) {
	rows, err := inst.(*haproxy).showStat(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, r := range rows {
		if r["pxname"] == "replicas" && r["svname"] != "BACKEND" && r["svname"] != "FRONTEND" {
			n, err := strconv.Atoi(r["stot"])
			if err != nil {
				return nil, fmt.Errorf("server %s: stot %q", r["svname"], r["stot"])
			}
			out[r["addr"]] = n
		}
	}
	return out, nil
}
