package scenario

import (
	"strings"
	"time"

	"github.com/meshbench/meshbench/internal/errext"
)

// Overrides are values given on the command line, laid over a scenario by
// Apply. A nil field leaves the scenario's value as it is, so that a flag's
// default never replaces what a file says.
type Overrides struct {
	// Paths replaces the path list; a name the scenario defines keeps its
	// kind and settings, any other name is a path of that kind.
	Paths *[]string
	// Rate sets a constant rate and drops any sweep, with its knee.
	Rate *float64
	// Sweep sets the sweep's steps; it may not be given with Rate.
	Sweep        *[]float64
	Duration     *time.Duration
	Warmup       *time.Duration
	Trials       *int
	Connections  *int
	Payload      *int
	BackendDelay *time.Duration
	Replicas     *int
	// Target sets the endpoint measured as direct; without Paths it also
	// makes direct the only path.
	Target      *string
	Insecure    *bool
	NoHostStats *bool
	Probes      *[]string
	Window      *time.Duration
	SendBatch   *Batch
	Placement   *string
	MaxRounds   *int
}

// Apply returns a normalised copy of sc with the overrides laid over it;
// sc is not changed. The result still has to pass Validate.
func (o Overrides) Apply(sc *Scenario) (*Scenario, error) {
	if o.Rate != nil && o.Sweep != nil {
		return nil, errext.BadInputf("--rate and --sweep both set the offered load: give one")
	}
	out := sc.Clone()
	if o.Paths != nil {
		out.Paths = pathsByName(out.Paths, *o.Paths)
	}
	if o.Rate != nil {
		out.Rate = Rate{Shape: ShapeConstant, RPS: *o.Rate}
		out.Sweep = nil
		out.Knee = Knee{}
	}
	if o.Sweep != nil {
		out.Sweep = append([]float64(nil), *o.Sweep...)
		// The steps are the rates; a rate shape would contradict them.
		out.Rate = Rate{Shape: ShapeConstant, RPS: out.Rate.Mean()}
	}
	setDuration(&out.Duration, o.Duration)
	setDuration(&out.Warmup, o.Warmup)
	setDuration(&out.Backend.Delay, o.BackendDelay)
	set(&out.Trials, o.Trials)
	set(&out.Connections, o.Connections)
	set(&out.Backend.Payload, o.Payload)
	set(&out.Backend.Replicas, o.Replicas)
	set(&out.HostStats.Disabled, o.NoHostStats)
	setDuration(&out.Window, o.Window)
	set(&out.SendBatch, o.SendBatch)
	set(&out.Placement, o.Placement)
	set(&out.MaxRounds, o.MaxRounds)
	set(&out.Insecure, o.Insecure)
	if o.Probes != nil {
		out.HostStats.Probes = append([]string(nil), *o.Probes...)
	}
	if o.Target != nil {
		out.Target = *o.Target
		if o.Paths == nil {
			// An existing endpoint can only be measured directly.
			out.Paths = []PathSpec{{Name: "direct", Kind: "direct"}}
		}
	}
	return Normalize(out), nil
}

// pathsByName builds the path list of names: a name defined in defined is
// taken with its kind and settings, any other is a path of that kind.
func pathsByName(defined []PathSpec, names []string) []PathSpec {
	out := make([]PathSpec, 0, len(names))
	for _, name := range names {
		name = strings.TrimSpace(name)
		spec := PathSpec{Name: name, Kind: name}
		for _, p := range defined {
			if p.Name == name {
				spec = p
			}
		}
		out = append(out, spec)
	}
	return out
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func setDuration(dst *Duration, v *time.Duration) {
	if v != nil {
		*dst = Duration(*v)
	}
}
