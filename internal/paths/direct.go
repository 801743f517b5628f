package paths

import (
	"context"
	"fmt"

	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

func init() {
	register("direct", Kind{
		Check: func(spec scenario.PathSpec, env Env) error {
			if len(spec.Settings) > 0 {
				return fmt.Errorf("path %s: direct takes no settings", spec.Name)
			}
			return nil
		},
		Start: startDirect,
	})
}

// direct is the baseline: the client spreads requests over the replicas
// itself, round robin, or sends everything to --target.
type direct struct{ targets []string }

func startDirect(_ context.Context, _ scenario.PathSpec, env Env) (Instance, error) {
	if env.Target != "" {
		return &direct{targets: []string{env.Target}}, nil
	}
	d := &direct{}
	for _, u := range env.Upstreams {
		d.targets = append(d.targets, "http://"+u)
	}
	return d, nil
}

func (d *direct) Targets() []string                             { return d.targets }
func (d *direct) Usage(context.Context) (*results.Proxy, error) { return nil, nil }
func (d *direct) Settings() map[string]string                   { return nil }
func (d *direct) Stop() error                                   { return nil }
