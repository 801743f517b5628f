package kubernetes_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshbench/meshbench/internal/cli"
	"github.com/meshbench/meshbench/internal/scenario"
	"github.com/meshbench/meshbench/scenarios"
)

// command is a meshbench command line of a manifest, parsed with
// meshbench's own flags.
type command struct {
	name  string // "serve", "run", "host"
	flags *pflag.FlagSet
}

// runsMeshbench reports whether c runs the meshbench image's entrypoint
// with its args (the results pod runs sleep instead).
func runsMeshbench(c corev1.Container) bool {
	name := c.Image[strings.LastIndex(c.Image, "/")+1:]
	return len(c.Command) == 0 && (name == "meshbench" || strings.HasPrefix(name, "meshbench:") || strings.HasPrefix(name, "meshbench@"))
}

func parseCommand(c corev1.Container) (*command, error) {
	name, flags, err := cli.ParseArgs(c.Args)
	if err != nil {
		return nil, fmt.Errorf("container %s: `meshbench %s` does not parse with meshbench's flags: %v", c.Name, strings.Join(c.Args, " "), err)
	}
	return &command{name: name, flags: flags}, nil
}

// str is a string flag's value ("" when unset).
func (c *command) str(flag string) string {
	if f := c.flags.Lookup(flag); f != nil && f.Changed {
		return f.Value.String()
	}
	return ""
}

func (c *command) list(flag string) []string {
	v, _ := c.flags.GetStringSlice(flag)
	return v
}

// mountedFile is the text of the file at path in container c of tpl: a
// key of a ConfigMap of the render mounted above it.
func mountedFile(r *rendered, tpl *corev1.PodTemplateSpec, c corev1.Container, path string) (string, error) {
	for _, m := range c.VolumeMounts {
		key, ok := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		i := slices.IndexFunc(tpl.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if i < 0 || tpl.Spec.Volumes[i].ConfigMap == nil || r.configMaps[tpl.Spec.Volumes[i].ConfigMap.Name] == nil {
			return "", fmt.Errorf("%s is not in a ConfigMap of the render", path)
		}
		text, ok := r.configMaps[tpl.Spec.Volumes[i].ConfigMap.Name].Data[key]
		if !ok {
			return "", fmt.Errorf("%s: ConfigMap %s has no key %s", path, tpl.Spec.Volumes[i].ConfigMap.Name, key)
		}
		return text, nil
	}
	return "", fmt.Errorf("%s is on no volume of container %s", path, c.Name)
}

// scenarioOf is the scenario a serve or run command line of tpl uses: its
// SCENARIO argument, read from the render, or (fromFile false) the one
// `meshbench run` embeds. run's --replicas and --paths apply to it.
func scenarioOf(r *rendered, tpl *corev1.PodTemplateSpec) (sc *scenario.Scenario, fromFile bool, err error) {
	c := tpl.Spec.Containers[0]
	cmd, err := parseCommand(c)
	if err != nil {
		return nil, false, err
	}
	name := scenarios.DefaultName
	var data []byte
	if args := cmd.flags.Args(); len(args) > 0 {
		text, err := mountedFile(r, tpl, c, args[0])
		if err != nil {
			return nil, false, err
		}
		name, data, fromFile = args[0], []byte(text), true
	} else if data, err = scenarios.Files.ReadFile(scenarios.DefaultName); err != nil {
		return nil, false, err
	}
	if sc, err = scenario.Parse(name, data); err == nil {
		err = sc.Validate()
	}
	if err != nil {
		return nil, fromFile, fmt.Errorf("scenario: %w", err)
	}
	if cmd.name == "run" {
		if n, _ := cmd.flags.GetInt("replicas"); n > 0 {
			sc.Backend.Replicas = n
		}
		if names := cmd.list("paths"); len(names) > 0 {
			sc.Paths = nil
			for _, n := range names {
				sc.Paths = append(sc.Paths, scenario.PathSpec{Name: n, Kind: n})
			}
		}
	}
	return sc, fromFile, nil
}

// portRange is the ports one path (or the control API) listens on.
type portRange struct {
	name   string
	lo, hi int32
}

func (p portRange) String() string {
	if p.lo == p.hi {
		return fmt.Sprintf("%s (%d)", p.name, p.lo)
	}
	return fmt.Sprintf("%s (%d-%d)", p.name, p.lo, p.hi)
}

// portRanges are serve's listeners: the control API on --listen's port,
// each path on its --path-ports port, and direct's backend replicas on
// replicas consecutive ports from direct's. Sorted by first port.
func portRanges(serve *command, replicas int) ([]portRange, error) {
	_, control, _ := strings.Cut(serve.str("listen"), ":")
	cp, err := strconv.Atoi(control)
	if err != nil {
		return nil, fmt.Errorf("--listen %q has no port", serve.str("listen"))
	}
	out := []portRange{{"control", int32(cp), int32(cp)}}
	for _, kv := range serve.list(flagPathPorts) {
		name, port, _ := strings.Cut(kv, "=")
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("--%s entry %q: want NAME=PORT", flagPathPorts, kv)
		}
		r := portRange{name, int32(p), int32(p)}
		if name == "direct" {
			r.hi += int32(replicas - 1)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b portRange) int { return int(a.lo - b.lo) })
	return out, nil
}

// overlaps names every two ranges that share a port: serve refuses a run
// whose replicas take a port another path or the control API holds.
func overlaps(ranges []portRange) []string {
	var out []string
	for i, a := range ranges {
		for _, b := range ranges[i+1:] {
			if a.lo <= b.hi && b.lo <= a.hi {
				out = append(out, fmt.Sprintf("the ports of %s and %s overlap", a, b))
			}
		}
	}
	return out
}

// setArg sets flag's value in a copy of args ("" removes the flag and its
// value), for the rule tests.
func setArg(args []string, flag, value string) []string {
	out := slices.Clone(args)
	i := slices.Index(out, flag)
	switch {
	case i < 0 && value != "":
		return append(out, flag, value)
	case i < 0:
		return out
	case value == "":
		return slices.Delete(out, i, i+2)
	}
	out[i+1] = value
	return out
}
