package kubernetes_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/meshbench/meshbench/internal/remote"
	"github.com/meshbench/meshbench/internal/scenario"
)

// The meshbench flags the test reads to check the manifests against each
// other. Every meshbench command line in a manifest is also parsed with
// meshbench's own flags (cli.ParseArgs), so a misspelt or removed flag fails.
const (
	flagPathPorts     = "path-ports"      // serve: NAME=PORT,... fixed ports of the paths
	flagShareIndexEnv = "share-index-env" // run: env var holding this agent's 0-based index
	flagShareCount    = "share-count"     // run: how many agents share the rate
	hostnameTopology  = "kubernetes.io/hostname"
)

// externalSecrets are made by the user from the server's token file
// (README, "Run in a cluster"), so they are not in the render.
var externalSecrets = []string{"meshbench-token"}

// kustomizations are every directory `kubectl kustomize` renders.
var kustomizations = []string{".", "host-quality", "mesh/linkerd", "mesh/istio"}

// rendered is one kustomization's output, each object decoded strictly.
type rendered struct {
	deployments map[string]*appsv1.Deployment
	jobs        map[string]*batchv1.Job
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	pvcs        map[string]*corev1.PersistentVolumeClaim
	namespaces  map[string]*corev1.Namespace
}

func render(t *testing.T, dir string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	r := &rendered{
		deployments: map[string]*appsv1.Deployment{}, jobs: map[string]*batchv1.Job{},
		services: map[string]*corev1.Service{}, configMaps: map[string]*corev1.ConfigMap{},
		pvcs: map[string]*corev1.PersistentVolumeClaim{}, namespaces: map[string]*corev1.Namespace{},
	}
	for _, res := range m.Resources() {
		doc, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		id := res.GetKind() + "/" + res.GetName()
		if err := r.add(res.GetApiVersion(), res.GetKind(), doc); err != nil {
			t.Errorf("%s: %s: %v", dir, id, err)
		}
	}
	if len(r.deployments)+len(r.jobs) == 0 {
		t.Fatalf("%s renders no workload", dir)
	}
	return r
}

// add decodes one object into its API type; a field the type does not have
// is an error (sigs.k8s.io/yaml UnmarshalStrict), as is a kind not expected.
func (r *rendered) add(apiVersion, kind string, doc []byte) error {
	decode := func(into interface{ GetName() string }, want string) (string, error) {
		if apiVersion != want {
			return "", fmt.Errorf("apiVersion %s, want %s", apiVersion, want)
		}
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			return "", err
		}
		return into.GetName(), nil
	}
	var err error
	var name string
	switch kind {
	case "Deployment":
		o := &appsv1.Deployment{}
		name, err = decode(o, "apps/v1")
		r.deployments[name] = o
	case "Job":
		o := &batchv1.Job{}
		name, err = decode(o, "batch/v1")
		r.jobs[name] = o
	case "Service":
		o := &corev1.Service{}
		name, err = decode(o, "v1")
		r.services[name] = o
	case "ConfigMap":
		o := &corev1.ConfigMap{}
		name, err = decode(o, "v1")
		r.configMaps[name] = o
	case "PersistentVolumeClaim":
		o := &corev1.PersistentVolumeClaim{}
		name, err = decode(o, "v1")
		r.pvcs[name] = o
	case "Namespace":
		o := &corev1.Namespace{}
		name, err = decode(o, "v1")
		r.namespaces[name] = o
	default:
		return fmt.Errorf("kind %s is not one this test knows how to check", kind)
	}
	return err
}

// podTemplates are the workloads' pod templates by "Kind/name".
func (r *rendered) podTemplates() map[string]*corev1.PodTemplateSpec {
	out := map[string]*corev1.PodTemplateSpec{}
	for n, d := range r.deployments {
		out["Deployment/"+n] = &d.Spec.Template
	}
	for n, j := range r.jobs {
		out["Job/"+n] = &j.Spec.Template
	}
	return out
}

// podProblems are the rules every pod template keeps: requests on every
// container, non-root with no privilege escalation, read-only host mounts,
// pinned images, no service-account token, and volumes that exist.
func podProblems(r *rendered, tpl *corev1.PodTemplateSpec) []string {
	var out []string
	spec := &tpl.Spec
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		out = append(out, "automountServiceAccountToken is not false")
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		out = append(out, "pod securityContext: want runAsNonRoot true and a non-zero runAsUser")
	}
	hostVolumes := map[string]bool{}
	for _, v := range spec.Volumes {
		switch {
		case v.HostPath != nil:
			hostVolumes[v.Name] = true
			if v.HostPath.Type == nil || *v.HostPath.Type == "" {
				out = append(out, "hostPath volume "+v.Name+" has no type")
			}
		case v.ConfigMap != nil && r.configMaps[v.ConfigMap.Name] == nil:
			out = append(out, "volume "+v.Name+": ConfigMap "+v.ConfigMap.Name+" is not in the render")
		case v.PersistentVolumeClaim != nil && r.pvcs[v.PersistentVolumeClaim.ClaimName] == nil:
			out = append(out, "volume "+v.Name+": PVC "+v.PersistentVolumeClaim.ClaimName+" is not in the render")
		case v.Secret != nil && !slices.Contains(externalSecrets, v.Secret.SecretName):
			out = append(out, "volume "+v.Name+": Secret "+v.Secret.SecretName+" is neither rendered nor documented")
		}
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		p := "container " + c.Name + ": "
		if runsMeshbench(c) {
			if _, err := parseCommand(c); err != nil {
				out = append(out, err.Error())
			}
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[res]; !ok || q.IsZero() {
				out = append(out, p+"no "+string(res)+" request")
			}
		}
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			(sc.Privileged != nil && *sc.Privileged) || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			out = append(out, p+"securityContext: want allowPrivilegeEscalation false, not privileged, capabilities drop ALL")
		}
		if sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			out = append(out, p+"runs as uid 0")
		}
		if name := c.Image[strings.LastIndex(c.Image, "/")+1:]; !strings.Contains(name, "@sha256:") &&
			(!strings.Contains(name, ":") || strings.HasSuffix(name, ":latest")) {
			out = append(out, p+"image "+c.Image+" is not pinned to a tag or digest")
		}
		for _, m := range c.VolumeMounts {
			if hostVolumes[m.Name] && !m.ReadOnly {
				out = append(out, p+"host path "+m.Name+" is mounted writable at "+m.MountPath)
			}
		}
	}
	return out
}

// antiAffinityProblems checks that the template's required pod anti-affinity
// keeps it off every node holding a pod with any of the given label sets.
func antiAffinityProblems(tpl *corev1.PodTemplateSpec, against map[string]map[string]string) []string {
	var terms []corev1.PodAffinityTerm
	if a := tpl.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		terms = a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	var out []string
	for what, lbls := range against {
		kept := false
		for _, term := range terms {
			if term.TopologyKey != hostnameTopology || term.LabelSelector == nil {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
			if err != nil {
				out = append(out, "anti-affinity selector: "+err.Error())
				continue
			}
			kept = kept || sel.Matches(labels.Set(lbls))
		}
		if !kept {
			out = append(out, "no required anti-affinity (topology "+hostnameTopology+") against "+what)
		}
	}
	return out
}

// loadJobProblems: the agents are an Indexed Job, one per node and none on
// the server's, each knows its share from the completion index, and the
// token Secret is readable by the agent's group alone.
func loadJobProblems(job *batchv1.Job, server *appsv1.Deployment) []string {
	var out []string
	if job.Spec.CompletionMode == nil || *job.Spec.CompletionMode != batchv1.IndexedCompletion {
		out = append(out, "completionMode is not Indexed")
	}
	cmd, err := parseCommand(job.Spec.Template.Spec.Containers[0])
	if err != nil {
		return append(out, err.Error())
	}
	if v := cmd.str(flagShareIndexEnv); v != "JOB_COMPLETION_INDEX" {
		out = append(out, fmt.Sprintf("--%s is %q, want JOB_COMPLETION_INDEX", flagShareIndexEnv, v))
	}
	n, _ := cmd.flags.GetInt(flagShareCount)
	if job.Spec.Completions == nil || job.Spec.Parallelism == nil || *job.Spec.Completions != int32(n) || *job.Spec.Parallelism != int32(n) {
		out = append(out, fmt.Sprintf("--%s %d must equal completions and parallelism", flagShareCount, n))
	}
	if cmd.name != "run" || cmd.str("remote") == "" || cmd.str("token-file") == "" {
		out = append(out, "the agent does not run `meshbench run --remote URL --token-file FILE`")
	}
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		out = append(out, "restartPolicy is not Never: a restarted agent would miss windows")
	}
	out = append(out, tokenProblems(&job.Spec.Template, cmd.str("token-file"))...)
	out = append(out, antiAffinityProblems(&job.Spec.Template, map[string]map[string]string{
		"the server": server.Spec.Template.Labels, "the other agents": job.Spec.Template.Labels,
	})...)
	return out
}

// tokenProblems: the token file comes from the Secret with a mode that lets
// the pod's group (fsGroup; the file belongs to root) read it and nobody else.
func tokenProblems(tpl *corev1.PodTemplateSpec, tokenFile string) []string {
	spec := &tpl.Spec
	mode, found := int32(-1), false
	for _, m := range spec.Containers[0].VolumeMounts {
		if !strings.HasPrefix(tokenFile, strings.TrimSuffix(m.MountPath, "/")+"/") {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName == "meshbench-token" {
				found = true
				if v.Secret.DefaultMode != nil {
					mode = *v.Secret.DefaultMode
				}
			}
		}
	}
	switch {
	case !found:
		return []string{"the token file " + tokenFile + " is not on the Secret meshbench-token"}
	case mode < 0 || mode&0o007 != 0:
		return []string{fmt.Sprintf("the token Secret's defaultMode %#o lets every user read the token", mode)}
	case mode&0o040 == 0 || spec.SecurityContext == nil || spec.SecurityContext.FSGroup == nil:
		return []string{fmt.Sprintf("the token Secret's defaultMode %#o and the pod's fsGroup do not let the agent's group read it", mode)}
	}
	return nil
}

// serverProblems: serve listens on fixed ports, each path's own and the
// ranges of direct's replicas apart; the container declares them and the
// Service exposes them, every path the agents measure has one, serve never
// stops by itself, the Service selects the server and not the agents, and
// the server keeps off the agents' nodes.
func serverProblems(r *rendered, d *appsv1.Deployment, svc *corev1.Service, load *batchv1.Job) []string {
	var out []string
	c := d.Spec.Template.Spec.Containers[0]
	serve, err := parseCommand(c)
	if err != nil {
		return []string{err.Error()}
	}
	if serve.name != "serve" || serve.str("token-file") == "" {
		out = append(out, "the server does not run `meshbench serve ... --token-file FILE`")
	}
	if idle, _ := serve.flags.GetDuration("idle-timeout"); idle != 0 {
		out = append(out, fmt.Sprintf("--idle-timeout is %s, want 0: a serve that stops restarts with a new certificate, and the Secret's pinned fingerprint goes stale", idle))
	}
	agents, _, err := scenarioOf(r, &load.Spec.Template)
	if err != nil {
		return append(out, "the agents' "+err.Error())
	}
	ranges, err := portRanges(serve, agents.Backend.Replicas)
	if err != nil {
		return append(out, err.Error())
	}
	out = append(out, overlaps(ranges)...)
	out = append(out, pathKindProblems(r, d, serve, agents)...)
	for _, pr := range ranges {
		for port := pr.lo; port <= pr.hi; port++ {
			i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == port })
			if i < 0 {
				out = append(out, fmt.Sprintf("%s: port %d is not a container port", pr, port))
				continue
			}
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
				return p.Port == port && (p.TargetPort.IntVal == port || p.TargetPort.StrVal == c.Ports[i].Name)
			}) {
				out = append(out, fmt.Sprintf("%s: port %d is not exposed by Service %s", pr, port, svc.Name))
			}
		}
	}
	for _, p := range c.Ports {
		if !slices.ContainsFunc(ranges, func(pr portRange) bool { return pr.lo <= p.ContainerPort && p.ContainerPort <= pr.hi }) {
			out = append(out, fmt.Sprintf("container port %d (%s) belongs to no path of --%s", p.ContainerPort, p.Name, flagPathPorts))
		}
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	if len(svc.Spec.Selector) == 0 || !sel.Matches(labels.Set(d.Spec.Template.Labels)) || sel.Matches(labels.Set(load.Spec.Template.Labels)) {
		out = append(out, "Service "+svc.Name+" must select the server's pod and not the agents'")
	}
	out = append(out, antiAffinityProblems(&d.Spec.Template, map[string]map[string]string{"the agents": load.Spec.Template.Labels})...)
	return out
}

// pathKindProblems: every path the agents measure has a fixed port, and
// every fixed port but direct's belongs to a path that listens on it. A
// path of kind direct has no listener: its requests go to direct's
// replicas, so a port given to it is never used (and a mesh could not
// tell its traffic from direct's).
func pathKindProblems(r *rendered, d *appsv1.Deployment, serve *command, agents *scenario.Scenario) []string {
	var out []string
	kinds := map[string]string{} // what serve offers: its scenario's paths, else the built-in kinds
	if sc, fromFile, err := scenarioOf(r, &d.Spec.Template); err != nil {
		return []string{"the server's " + err.Error()}
	} else if fromFile {
		for _, p := range sc.Paths {
			kinds[p.Name] = p.Kind
		}
	} else {
		for _, k := range scenario.Kinds {
			kinds[k] = k
		}
	}
	fixed := map[string]bool{}
	for _, kv := range serve.list(flagPathPorts) {
		name, _, _ := strings.Cut(kv, "=")
		fixed[name] = true
		switch kind, ok := kinds[name]; {
		case !ok:
			out = append(out, fmt.Sprintf("--%s names %s, which serve does not offer", flagPathPorts, name))
		case name != "direct" && kind == "direct":
			out = append(out, fmt.Sprintf("path %s is of kind direct: it has no listener of its own, its requests go to direct's replicas", name))
		}
	}
	for _, p := range agents.Paths {
		if !fixed[p.Name] {
			out = append(out, fmt.Sprintf("the agents measure %s, which has no fixed port: the Service cannot reach it", p.Name))
		}
	}
	return out
}

// hostJobProblems: one probe per node, reading the node's /proc and /sys
// read-only (and told so by HOST_PROC and HOST_SYS), writing JSON for
// `meshbench report`.
func hostJobProblems(job *batchv1.Job) []string {
	var out []string
	if job.Spec.CompletionMode == nil || *job.Spec.CompletionMode != batchv1.IndexedCompletion {
		out = append(out, "completionMode is not Indexed")
	}
	spec := &job.Spec.Template.Spec
	c := spec.Containers[0]
	cmd, err := parseCommand(c)
	if err != nil {
		return append(out, err.Error())
	}
	if cmd.name != "host" || cmd.str("format") != "json" || cmd.str("out") == "" {
		out = append(out, "the probe does not run `meshbench host --format json --out FILE`")
	}
	for _, root := range []struct{ path, env string }{{"/proc", "HOST_PROC"}, {"/sys", "HOST_SYS"}} {
		i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.HostPath != nil && v.HostPath.Path == root.path })
		if i < 0 {
			out = append(out, "the node's "+root.path+" is not mounted")
			continue
		}
		j := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == spec.Volumes[i].Name })
		if j < 0 || !c.VolumeMounts[j].ReadOnly {
			out = append(out, "the node's "+root.path+" is not mounted read-only in the probe")
			continue
		}
		if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == root.env && e.Value == c.VolumeMounts[j].MountPath }) {
			out = append(out, fmt.Sprintf("%s does not name %s, where the node's %s is mounted", root.env, c.VolumeMounts[j].MountPath, root.path))
		}
	}
	out = append(out, antiAffinityProblems(&job.Spec.Template, map[string]map[string]string{"the other probes": job.Spec.Template.Labels})...)
	return out
}

func report(t *testing.T, what string, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Errorf("%s: %s", what, p)
	}
}

func TestManifests(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			r := render(t, dir)
			for id, tpl := range r.podTemplates() {
				report(t, id, podProblems(r, tpl))
			}
			if len(r.namespaces) != 1 || r.namespaces["meshbench"] == nil {
				t.Errorf("want the one namespace meshbench, got %d", len(r.namespaces))
			}
			server, load := r.deployments["meshbench-server"], r.jobs["meshbench-load"]
			if (server == nil) != (load == nil) {
				t.Fatalf("the server and the agents come together: server %v, agents %v", server != nil, load != nil)
			}
			if server != nil {
				report(t, "Job/meshbench-load", loadJobProblems(load, server))
				report(t, "Deployment/meshbench-server", serverProblems(r, server, r.services["meshbench-server"], load))
			}
			if j := r.jobs["meshbench-host"]; j != nil {
				report(t, "Job/meshbench-host", hostJobProblems(j))
			}
			if strings.HasPrefix(dir, "mesh/") {
				report(t, dir, meshProblems(r, strings.TrimPrefix(dir, "mesh/")))
			}
		})
	}
}

// TestTokenFileMode: the mode the agents' Secret gives the token file is
// one `run --remote --token-file` reads. It is group-readable, not 0600 as
// serve writes it: a Secret's files belong to root, so the agent (uid
// 10001) reads it through fsGroup. Nobody else may read it.
func TestTokenFileMode(t *testing.T) {
	load := render(t, ".").jobs["meshbench-load"]
	i := slices.IndexFunc(load.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Secret != nil })
	mode := os.FileMode(*load.Spec.Template.Spec.Volumes[i].Secret.DefaultMode)
	path := filepath.Join(t.TempDir(), "token")
	text := "# as serve writes it\ntoken " + strings.Repeat("ab", 32) + "\ncert-sha256 " + strings.Repeat("0f", 32) + "\n"
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	if _, err := remote.ReadCredentials(path); err != nil {
		t.Errorf("a token file of mode %#o: %v", mode, err)
	}
}

// meshAnnotations are, per mesh, what injects a native sidecar into a pod and
// the annotation that keeps ports away from the proxies (outbound on the
// agents, inbound on the server).
var meshAnnotations = map[string]struct {
	inject, native  [2]string
	skipOut, skipIn string
	injectIsALabel  bool
}{
	"linkerd": {
		inject: [2]string{"linkerd.io/inject", "enabled"}, native: [2]string{"config.beta.linkerd.io/proxy-enable-native-sidecar", "true"},
		skipOut: "config.linkerd.io/skip-outbound-ports", skipIn: "config.linkerd.io/skip-inbound-ports",
	},
	"istio": {
		inject: [2]string{"sidecar.istio.io/inject", "true"}, native: [2]string{"sidecar.istio.io/nativeSidecar", "true"},
		skipOut: "traffic.sidecar.istio.io/excludeOutboundPorts", skipIn: "traffic.sidecar.istio.io/excludeInboundPorts",
		injectIsALabel: true,
	},
}

// meshProblems: both pods injected with native sidecars (so the Job ends);
// the scenario measures direct, unmeshed and meshed, the last two the same
// backend program with the backend's payload; every port but meshed's is
// kept out of the mesh.
func meshProblems(r *rendered, mesh string) []string {
	var out []string
	m := meshAnnotations[mesh]
	server, load := r.deployments["meshbench-server"], r.jobs["meshbench-load"]
	sc, _, err := scenarioOf(r, &load.Spec.Template)
	if err != nil {
		return []string{err.Error()}
	}
	var names []string
	var commands [][]string
	for _, p := range sc.Paths {
		names = append(names, p.Name)
		if p.Kind == "exec" {
			commands = append(commands, p.Exec.Command)
			if c := p.Exec.Command; len(c) < 2 || c[0] != "meshbench" || c[1] != "backend" ||
				c[slices.Index(c, "--payload")+1] != strconv.Itoa(sc.Backend.Payload) {
				out = append(out, fmt.Sprintf("path %s runs %v, want `meshbench backend --payload %d`, the backend's", p.Name, c, sc.Backend.Payload))
			}
		}
	}
	if !slices.Equal(names, []string{"direct", "unmeshed", "meshed"}) {
		out = append(out, fmt.Sprintf("scenario paths %v: want direct, unmeshed, meshed", names))
	} else if !slices.EqualFunc(commands[0], commands[1], func(a, b string) bool { return a == b }) {
		out = append(out, "unmeshed and meshed run different commands: their difference would not be the mesh's")
	}
	serve, err := parseCommand(server.Spec.Template.Spec.Containers[0])
	if err != nil {
		return append(out, err.Error())
	}
	ranges, err := portRanges(serve, sc.Backend.Replicas)
	if err != nil {
		return append(out, err.Error())
	}
	var wantSkipped []string
	for _, pr := range ranges {
		for port := pr.lo; port <= pr.hi && pr.name != "meshed"; port++ {
			wantSkipped = append(wantSkipped, strconv.Itoa(int(port)))
		}
	}
	slices.Sort(wantSkipped)
	for _, w := range []struct {
		what string
		tpl  *corev1.PodTemplateSpec
		skip string
	}{{"agents", &load.Spec.Template, m.skipOut}, {"server", &server.Spec.Template, m.skipIn}} {
		injectFrom := w.tpl.Annotations
		if m.injectIsALabel {
			injectFrom = w.tpl.Labels
		}
		if injectFrom[m.inject[0]] != m.inject[1] {
			out = append(out, fmt.Sprintf("%s: not injected (%s: %q)", w.what, m.inject[0], m.inject[1]))
		}
		if w.tpl.Annotations[m.native[0]] != m.native[1] {
			out = append(out, fmt.Sprintf("%s: no native sidecar (%s: %q)", w.what, m.native[0], m.native[1]))
		}
		skipped := strings.Split(w.tpl.Annotations[w.skip], ",")
		slices.Sort(skipped)
		if !slices.Equal(skipped, wantSkipped) {
			out = append(out, fmt.Sprintf("%s: %s is %v, want exactly the ports of every path but meshed and the control port %v", w.what, w.skip, skipped, wantSkipped))
		}
	}
	return out
}

// renders are the three kinds of render the rule tests break copies of.
type renders struct{ base, hostq, mesh *rendered }

func (w renders) server() *appsv1.Deployment { return w.base.deployments["meshbench-server"] }
func (w renders) load() *batchv1.Job         { return w.base.jobs["meshbench-load"] }
func (w renders) svc() *corev1.Service       { return w.base.services["meshbench-server"] }
func (w renders) host() *batchv1.Job         { return w.hostq.jobs["meshbench-host"] }
func (w renders) meshLoad() *batchv1.Job     { return w.mesh.jobs["meshbench-load"] }

// TestRulesCatch breaks one rule at a time in freshly rendered manifests and
// checks that the checks above say so, and that strict decoding refuses a
// field the API does not have.
func TestRulesCatch(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(w renders)
		check  func(w renders) []string
		want   string
	}{
		{"no cpu request", func(w renders) {
			delete(w.load().Spec.Template.Spec.Containers[0].Resources.Requests, corev1.ResourceCPU)
		},
			func(w renders) []string { return podProblems(w.base, &w.load().Spec.Template) }, "no cpu request"},
		{"root pod", func(w renders) { w.server().Spec.Template.Spec.SecurityContext.RunAsNonRoot = new(bool) },
			func(w renders) []string { return podProblems(w.base, &w.server().Spec.Template) }, "runAsNonRoot"},
		{"privilege escalation", func(w renders) {
			*w.load().Spec.Template.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = true
		},
			func(w renders) []string { return podProblems(w.base, &w.load().Spec.Template) }, "allowPrivilegeEscalation"},
		{"latest image", func(w renders) { w.server().Spec.Template.Spec.Containers[0].Image = "meshbench:latest" },
			func(w renders) []string { return podProblems(w.base, &w.server().Spec.Template) }, "not pinned"},
		{"writable /proc", func(w renders) {
			for i := range w.host().Spec.Template.Spec.Containers[0].VolumeMounts {
				w.host().Spec.Template.Spec.Containers[0].VolumeMounts[i].ReadOnly = false
			}
		}, func(w renders) []string { return podProblems(w.hostq, &w.host().Spec.Template) }, "mounted writable"},
		{"not indexed", func(w renders) { w.load().Spec.CompletionMode = nil },
			func(w renders) []string { return loadJobProblems(w.load(), w.server()) }, "not Indexed"},
		{"share count off", func(w renders) { *w.load().Spec.Completions = 3 },
			func(w renders) []string { return loadJobProblems(w.load(), w.server()) }, flagShareCount},
		{"preferred, not required", func(w renders) {
			w.load().Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = nil
		}, func(w renders) []string { return loadJobProblems(w.load(), w.server()) }, "against the server"},
		{"zone, not node", func(w renders) {
			w.server().Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey = "topology.kubernetes.io/zone"
		}, func(w renders) []string { return serverProblems(w.base, w.server(), w.svc(), w.load()) }, "against the agents"},
		{"service port missing", func(w renders) { w.svc().Spec.Ports = w.svc().Spec.Ports[:len(w.svc().Spec.Ports)-1] },
			func(w renders) []string { return serverProblems(w.base, w.server(), w.svc(), w.load()) }, "not exposed"},
		{"service selects agents", func(w renders) { w.svc().Spec.Selector = map[string]string{"app.kubernetes.io/name": "meshbench"} },
			func(w renders) []string { return serverProblems(w.base, w.server(), w.svc(), w.load()) }, "must select"},
		{"host probe without /sys", func(w renders) {
			spec := &w.host().Spec.Template.Spec
			spec.Volumes = slices.DeleteFunc(spec.Volumes, func(v corev1.Volume) bool { return v.HostPath != nil && v.HostPath.Path == "/sys" })
		}, func(w renders) []string { return hostJobProblems(w.host()) }, "/sys is not mounted"},
		{"missing ConfigMap", func(w renders) { delete(w.mesh.configMaps, "meshbench-mesh-scenario") },
			func(w renders) []string { return podProblems(w.mesh, &w.meshLoad().Spec.Template) }, "not in the render"},
		{"direct path meshed", func(w renders) {
			w.meshLoad().Spec.Template.Annotations["config.linkerd.io/skip-outbound-ports"] = "7400"
		}, func(w renders) []string { return meshProblems(w.mesh, "linkerd") }, "want exactly the ports of every path but meshed"},
		{"no native sidecar", func(w renders) {
			delete(w.meshLoad().Spec.Template.Annotations, "config.beta.linkerd.io/proxy-enable-native-sidecar")
		}, func(w renders) []string { return meshProblems(w.mesh, "linkerd") }, "no native sidecar"},
		{"direct's replicas on haproxy's port", func(w renders) {
			c := &w.server().Spec.Template.Spec.Containers[0]
			c.Args = setArg(c.Args, "--"+flagPathPorts, "direct=7401,haproxy=7402,nginx=7403,linkerd=7404")
		}, func(w renders) []string { return serverProblems(w.base, w.server(), w.svc(), w.load()) }, "direct (7401-7403) and haproxy (7402) overlap"},
		{"more replicas than ports", func(w renders) {
			c := &w.load().Spec.Template.Spec.Containers[0]
			c.Args = setArg(c.Args, "--replicas", "4")
		}, func(w renders) []string { return serverProblems(w.base, w.server(), w.svc(), w.load()) }, "port 7413 is not a container port"},
		{"a replica's port not exposed", func(w renders) {
			w.svc().Spec.Ports = slices.DeleteFunc(w.svc().Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == 7412 })
		}, func(w renders) []string { return serverProblems(w.base, w.server(), w.svc(), w.load()) }, "port 7412 is not exposed"},
		{"a stray container port", func(w renders) {
			c := &w.server().Spec.Template.Spec.Containers[0]
			c.Ports = append(c.Ports, corev1.ContainerPort{Name: "extra", ContainerPort: 7499})
		}, func(w renders) []string { return serverProblems(w.base, w.server(), w.svc(), w.load()) }, "belongs to no path"},
		{"a measured path without a port", func(w renders) {
			c := &w.load().Spec.Template.Spec.Containers[0]
			c.Args = setArg(c.Args, "--paths", "direct,haproxy,linkerd-mtls")
		}, func(w renders) []string { return serverProblems(w.base, w.server(), w.svc(), w.load()) }, "linkerd-mtls, which has no fixed port"},
		{"serve stops when idle", func(w renders) {
			c := &w.server().Spec.Template.Spec.Containers[0]
			c.Args = setArg(c.Args, "--idle-timeout", "")
		}, func(w renders) []string { return serverProblems(w.base, w.server(), w.svc(), w.load()) }, "--idle-timeout is 15m0s"},
		{"a flag serve does not have", func(w renders) {
			c := &w.server().Spec.Template.Spec.Containers[0]
			c.Args = append(setArg(c.Args, "--idle-timeout", ""), "--idle", "0")
		}, func(w renders) []string { return podProblems(w.base, &w.server().Spec.Template) }, "does not parse with meshbench's flags"},
		{"world-readable token", func(w renders) {
			for _, v := range w.load().Spec.Template.Spec.Volumes {
				if v.Secret != nil {
					*v.Secret.DefaultMode = 0o444
				}
			}
		}, func(w renders) []string { return loadJobProblems(w.load(), w.server()) }, "lets every user read the token"},
		{"HOST_PROC not set", func(w renders) {
			c := &w.host().Spec.Template.Spec.Containers[0]
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "HOST_PROC" })
		}, func(w renders) []string { return hostJobProblems(w.host()) }, "HOST_PROC does not name /host/proc"},
		{"meshed of kind direct", func(w renders) {
			// The meshed path as a second direct path: no exec block.
			cm := w.mesh.configMaps["meshbench-mesh-scenario"]
			text := cm.Data["scenario.yaml"]
			from, to := strings.Index(text, "  - name: meshed\n"), strings.Index(text, "\nrate:")
			cm.Data["scenario.yaml"] = text[:from] + "  - name: meshed\n    kind: direct" + text[to:]
		}, func(w renders) []string {
			return serverProblems(w.mesh, w.mesh.deployments["meshbench-server"], w.mesh.services["meshbench-server"], w.meshLoad())
		}, "path meshed is of kind direct"},
		{"bad scenario", func(w renders) { w.mesh.configMaps["meshbench-mesh-scenario"].Data["scenario.yaml"] += "rat: 5\n" },
			func(w renders) []string { return meshProblems(w.mesh, "linkerd") }, "rat"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := renders{render(t, "."), render(t, "host-quality"), render(t, "mesh/linkerd")}
			if p := c.check(w); len(p) != 0 {
				t.Fatalf("problems before breaking anything: %q", p)
			}
			c.break_(w)
			got := c.check(w)
			if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, c.want) }) {
				t.Errorf("problems %q, want one with %q", got, c.want)
			}
		})
	}

	t.Run("unknown field", func(t *testing.T) {
		r := &rendered{deployments: map[string]*appsv1.Deployment{}}
		doc := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 1\n")
		if err := r.add("apps/v1", "Deployment", doc); err == nil || !strings.Contains(err.Error(), "replica") {
			t.Errorf("a misspelt field decoded: err %v", err)
		}
	})
}
