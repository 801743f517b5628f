package paths

import (
	"context"
	"errors"
	"time"

	"github.com/meshbench/meshbench/internal/backend"
	"github.com/meshbench/meshbench/internal/errext"
	"github.com/meshbench/meshbench/internal/knob"
	"github.com/meshbench/meshbench/internal/results"
	"github.com/meshbench/meshbench/internal/scenario"
)

// directSettings: a direct path takes one setting, added_delay, which makes
// it a calibration path: replicas of its own that answer exactly that much
// later than the baseline's. Its overhead over the baseline is known, so a
// run can check that the reported interval holds it.
var directSettings = knob.NewTable("direct setting",
	knob.Text("added_delay", "0s", "answer this much later, from replicas of the path's own (a calibration path with a known overhead)", knob.Duration(0, time.Second)),
)

func init() {
	register("direct", Kind{
		Check: func(spec scenario.PathSpec, env Env) error {
			set, err := applySettings(spec, directSettings)
			if err != nil {
				return err
			}
			if set["added_delay"] != "0s" && env.Target != "" {
				return errext.BadInputf("path %s: added_delay needs meshbench's own backend, not --target", spec.Name)
			}
			return nil
		},
		Start: startDirect,
	})
}

// direct is the baseline: the client spreads requests over the replicas
// itself, round robin, or sends everything to --target. With added_delay it
// runs replicas of its own.
type direct struct {
	targets  []string
	settings map[string]string
	own      []*backend.Server
}

func startDirect(ctx context.Context, spec scenario.PathSpec, env Env) (Instance, error) {
	set, err := applySettings(spec, directSettings)
	if err != nil {
		return nil, err
	}
	d := &direct{}
	if env.Target != "" {
		d.targets = []string{env.Target}
		return d, nil
	}
	added, _ := time.ParseDuration(set["added_delay"])
	if added == 0 {
		for _, u := range env.Upstreams {
			d.targets = append(d.targets, "http://"+u)
		}
		return d, nil
	}
	cfg := env.Backend
	cfg.Added = added
	d.settings = set
	if d.own, err = backend.StartReplicas(context.WithoutCancel(ctx), max(len(env.Upstreams), 1), cfg); err != nil {
		return nil, err
	}
	for _, r := range d.own {
		d.targets = append(d.targets, r.URL())
	}
	return d, nil
}

func (d *direct) Targets() []string                             { return d.targets }
func (d *direct) Usage(context.Context) (*results.Proxy, error) { return nil, nil }
func (d *direct) Settings() map[string]string                   { return d.settings }

func (d *direct) Stop() error {
	var errs []error
	for _, r := range d.own {
		errs = append(errs, r.Close())
	}
	d.own = nil
	return errors.Join(errs...)
}
