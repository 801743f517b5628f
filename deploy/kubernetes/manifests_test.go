package kubernetes_test

import (
	"fmt"
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

	"github.com/meshbench/meshbench/internal/scenario"
)

// The meshbench flags the manifests rely on that `meshbench serve` and
// `run --remote` are to provide (issues 15 and 16). They are named here once;
// the test fails if a manifest uses another spelling.
const (
	flagPathPorts     = "--path-ports"      // serve: NAME=PORT,... fixed ports of the paths
	flagShareIndexEnv = "--share-index-env" // run: env var holding this agent's 0-based index
	flagShareCount    = "--share-count"     // run: how many agents share the rate
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

// argValue is the value of flag in args ("--f v" or "--f=v"), or "".
func argValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// loadJobProblems: the agents are an Indexed Job, one per node and none on
// the server's, and each knows its share from the completion index.
func loadJobProblems(job *batchv1.Job, server *appsv1.Deployment) []string {
	var out []string
	if job.Spec.CompletionMode == nil || *job.Spec.CompletionMode != batchv1.IndexedCompletion {
		out = append(out, "completionMode is not Indexed")
	}
	c := job.Spec.Template.Spec.Containers[0]
	if v := argValue(c.Args, flagShareIndexEnv); v != "JOB_COMPLETION_INDEX" {
		out = append(out, fmt.Sprintf("%s is %q, want JOB_COMPLETION_INDEX", flagShareIndexEnv, v))
	}
	n, err := strconv.Atoi(argValue(c.Args, flagShareCount))
	if err != nil || job.Spec.Completions == nil || job.Spec.Parallelism == nil ||
		*job.Spec.Completions != int32(n) || *job.Spec.Parallelism != int32(n) {
		out = append(out, fmt.Sprintf("%s %q must equal completions and parallelism", flagShareCount, argValue(c.Args, flagShareCount)))
	}
	if argValue(c.Args, "--remote") == "" || argValue(c.Args, "--token-file") == "" || c.Args[0] != "run" {
		out = append(out, "the agent does not run `meshbench run --remote URL --token-file FILE`")
	}
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		out = append(out, "restartPolicy is not Never: a restarted agent would miss windows")
	}
	out = append(out, antiAffinityProblems(&job.Spec.Template, map[string]map[string]string{
		"the server": server.Spec.Template.Labels, "the other agents": job.Spec.Template.Labels,
	})...)
	return out
}

// pathPorts parses serve's --path-ports NAME=PORT,...
func pathPorts(args []string) (map[string]int32, error) {
	out := map[string]int32{}
	for _, kv := range strings.Split(argValue(args, flagPathPorts), ",") {
		name, port, ok := strings.Cut(kv, "=")
		p, err := strconv.Atoi(port)
		if !ok || err != nil || name == "" {
			return nil, fmt.Errorf("%s entry %q: want NAME=PORT", flagPathPorts, kv)
		}
		out[name] = int32(p)
	}
	return out, nil
}

// serverProblems: serve listens on fixed ports that the container declares
// and the Service exposes, the Service selects the server and not the
// agents, and the server keeps off the agents' nodes.
func serverProblems(d *appsv1.Deployment, svc *corev1.Service, load *batchv1.Job) []string {
	var out []string
	c := d.Spec.Template.Spec.Containers[0]
	if c.Args[0] != "serve" || argValue(c.Args, "--token-file") == "" {
		out = append(out, "the server does not run `meshbench serve ... --token-file FILE`")
	}
	ports, err := pathPorts(c.Args)
	if err != nil {
		return append(out, err.Error())
	}
	_, control, _ := strings.Cut(argValue(c.Args, "--listen"), ":")
	cp, err := strconv.Atoi(control)
	if err != nil {
		return append(out, "--listen has no port")
	}
	ports["control"] = int32(cp)
	for name, port := range ports {
		i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == port })
		if i < 0 {
			out = append(out, fmt.Sprintf("%s port %d is not a container port", name, port))
			continue
		}
		j := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
			return p.Port == port && (p.TargetPort.IntVal == port || p.TargetPort.StrVal == c.Ports[i].Name)
		})
		if j < 0 {
			out = append(out, fmt.Sprintf("%s port %d is not exposed by Service %s", name, port, svc.Name))
		}
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	if len(svc.Spec.Selector) == 0 || !sel.Matches(labels.Set(d.Spec.Template.Labels)) || sel.Matches(labels.Set(load.Spec.Template.Labels)) {
		out = append(out, "Service "+svc.Name+" must select the server's pod and not the agents'")
	}
	out = append(out, antiAffinityProblems(&d.Spec.Template, map[string]map[string]string{"the agents": load.Spec.Template.Labels})...)
	return out
}

// hostJobProblems: one probe per node, reading the node's /proc and /sys
// read-only, writing JSON for `meshbench report`.
func hostJobProblems(job *batchv1.Job) []string {
	var out []string
	if job.Spec.CompletionMode == nil || *job.Spec.CompletionMode != batchv1.IndexedCompletion {
		out = append(out, "completionMode is not Indexed")
	}
	spec := &job.Spec.Template.Spec
	c := spec.Containers[0]
	if c.Args[0] != "host" || argValue(c.Args, "--format") != "json" || argValue(c.Args, "--out") == "" {
		out = append(out, "the probe does not run `meshbench host --format json --out FILE`")
	}
	for _, path := range []string{"/proc", "/sys"} {
		i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.HostPath != nil && v.HostPath.Path == path })
		if i < 0 {
			out = append(out, "the node's "+path+" is not mounted")
			continue
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == spec.Volumes[i].Name && m.ReadOnly }) {
			out = append(out, "the node's "+path+" is not mounted read-only in the probe")
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
				report(t, "Deployment/meshbench-server", serverProblems(server, r.services["meshbench-server"], load))
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

// meshProblems: both pods injected with native sidecars (so the Job ends),
// the scenario a valid meshbench scenario whose paths the server serves, and
// only `direct` and the control port kept out of the mesh.
func meshProblems(r *rendered, mesh string) []string {
	var out []string
	m := meshAnnotations[mesh]
	server, load := r.deployments["meshbench-server"], r.jobs["meshbench-load"]
	ports, err := pathPorts(server.Spec.Template.Spec.Containers[0].Args)
	if err != nil {
		return []string{err.Error()}
	}
	cm := r.configMaps["meshbench-mesh-scenario"]
	if cm == nil {
		return []string{"no ConfigMap meshbench-mesh-scenario"}
	}
	sc, err := scenario.Parse("scenario.yaml", []byte(cm.Data["scenario.yaml"]))
	if err == nil {
		err = sc.Validate()
	}
	if err != nil {
		return []string{"scenario: " + err.Error()}
	}
	var names []string
	for _, p := range sc.Paths {
		names = append(names, p.Name)
		if _, ok := ports[p.Name]; !ok {
			out = append(out, "scenario path "+p.Name+" has no port in "+flagPathPorts)
		}
	}
	if !slices.Contains(names, "direct") || !slices.Contains(names, "meshed") {
		out = append(out, fmt.Sprintf("scenario paths %v: want direct and meshed", names))
	}
	_, control, _ := strings.Cut(argValue(server.Spec.Template.Spec.Containers[0].Args, "--listen"), ":")
	wantSkipped := []string{control, strconv.Itoa(int(ports["direct"]))}
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
		slices.Sort(wantSkipped)
		if !slices.Equal(skipped, wantSkipped) {
			out = append(out, fmt.Sprintf("%s: %s is %v, want exactly the control and direct ports %v", w.what, w.skip, skipped, wantSkipped))
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
		}, func(w renders) []string { return serverProblems(w.server(), w.svc(), w.load()) }, "against the agents"},
		{"service port missing", func(w renders) { w.svc().Spec.Ports = w.svc().Spec.Ports[:len(w.svc().Spec.Ports)-1] },
			func(w renders) []string { return serverProblems(w.server(), w.svc(), w.load()) }, "not exposed"},
		{"service selects agents", func(w renders) { w.svc().Spec.Selector = map[string]string{"app.kubernetes.io/name": "meshbench"} },
			func(w renders) []string { return serverProblems(w.server(), w.svc(), w.load()) }, "must select"},
		{"host probe without /sys", func(w renders) {
			spec := &w.host().Spec.Template.Spec
			spec.Volumes = slices.DeleteFunc(spec.Volumes, func(v corev1.Volume) bool { return v.HostPath != nil && v.HostPath.Path == "/sys" })
		}, func(w renders) []string { return hostJobProblems(w.host()) }, "/sys is not mounted"},
		{"missing ConfigMap", func(w renders) { delete(w.mesh.configMaps, "meshbench-mesh-scenario") },
			func(w renders) []string { return podProblems(w.mesh, &w.meshLoad().Spec.Template) }, "not in the render"},
		{"direct path meshed", func(w renders) {
			w.meshLoad().Spec.Template.Annotations["config.linkerd.io/skip-outbound-ports"] = "7400"
		}, func(w renders) []string { return meshProblems(w.mesh, "linkerd") }, "want exactly the control and direct ports"},
		{"no native sidecar", func(w renders) {
			delete(w.meshLoad().Spec.Template.Annotations, "config.beta.linkerd.io/proxy-enable-native-sidecar")
		}, func(w renders) []string { return meshProblems(w.mesh, "linkerd") }, "no native sidecar"},
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
