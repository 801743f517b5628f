// Package deploy holds what runs meshbench beyond one machine: the container
// image (../Dockerfile), Kubernetes manifests (kubernetes/) and the Ansible
// fleet playbook (ansible/). Its tests check the Dockerfile; the manifests
// have their own package. There is no Go API here.
package deploy
