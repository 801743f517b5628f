// Package kubernetes holds meshbench's Kubernetes manifests (kustomize): the
// two-host benchmark (base/ and common/, rendered from this directory), a
// host-quality probe per node (host-quality/) and the cluster-mesh variants
// (mesh/linkerd/, mesh/istio/). There is no Go API here: the package's test
// renders every kustomization, decodes each object strictly into the
// Kubernetes API types and checks the invariants the manifests promise.
package kubernetes
