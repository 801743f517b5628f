package deploy_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// parsed is a Dockerfile as BuildKit reads it, with the warnings of
// BuildKit's own checks (those `docker build --check` prints).
type parsed struct {
	stages []instructions.Stage
	lint   []string
}

func parseDockerfile(t *testing.T, text string) parsed {
	t.Helper()
	res, err := parser.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	var p parsed
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, _ []parser.Range) {
		p.lint = append(p.lint, rule+": "+msg)
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("instructions: %v", err)
	}
	p.stages = stages
	return p
}

// pinnedImage: a base image names an exact version (not latest, not a bare
// major or codename) or a digest.
var pinnedImage = regexp.MustCompile(`^[a-z0-9./-]+:(\d+\.\d+(\.\d+)?[a-z0-9.-]*)(@sha256:[0-9a-f]{64})?$|@sha256:[0-9a-f]{64}$`)

// problems lists what the Dockerfile gets wrong against the image's rules:
// multi-stage, pinned bases, no ADD of URLs, a non-root final user, an
// exec-form entrypoint (no shell at run time), both binaries built static.
func problems(p parsed) []string {
	var out []string
	out = append(out, p.lint...)
	if len(p.stages) < 2 {
		out = append(out, "want a multi-stage build (a build stage and a runtime stage)")
		return out
	}
	names := map[string]bool{}
	for _, s := range p.stages {
		if !names[s.BaseName] && !pinnedImage.MatchString(s.BaseName) {
			out = append(out, "FROM "+s.BaseName+": pin an exact version or digest")
		}
		if s.Name != "" {
			names[s.Name] = true
		}
		for _, c := range s.Commands {
			if add, ok := c.(*instructions.AddCommand); ok {
				for _, src := range add.SourcePaths {
					if strings.Contains(src, "://") || strings.HasPrefix(src, "git@") {
						out = append(out, "ADD "+src+": fetch remote files in a RUN with a checksum, or COPY")
					}
				}
			}
		}
	}
	build, final := p.stages[0], p.stages[len(p.stages)-1]
	var buildRuns string
	for _, c := range build.Commands {
		if r, ok := c.(*instructions.RunCommand); ok {
			buildRuns += strings.Join(r.CmdLine, " ") + "\n"
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/meshbench ", "./cmd/meshbench-sidecar"} {
		if !strings.Contains(buildRuns+" ", want) {
			out = append(out, "build stage: no RUN with "+strings.TrimSpace(want))
		}
	}
	user, entry := "", (*instructions.EntrypointCommand)(nil)
	var finalRuns string
	copied := map[string]bool{}
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			entry = c
		case *instructions.RunCommand:
			finalRuns += strings.Join(c.CmdLine, " ") + "\n"
		case *instructions.CopyCommand:
			if c.From == build.Name {
				for _, src := range c.SourcePaths {
					copied[filepath.Base(src)] = true
				}
			}
		}
	}
	if u := strings.Split(user, ":")[0]; u == "" || u == "root" || u == "0" {
		out = append(out, "runtime stage: set USER to an unprivileged user, not "+strings.TrimSpace(u+" (default root)"))
	}
	switch {
	case entry == nil:
		out = append(out, "runtime stage: no ENTRYPOINT")
	case entry.PrependShell:
		out = append(out, "ENTRYPOINT in shell form: use the exec form so that no shell runs")
	case len(entry.CmdLine) == 0 || filepath.Base(entry.CmdLine[0]) != "meshbench":
		out = append(out, "ENTRYPOINT should run meshbench, not "+strings.Join(entry.CmdLine, " "))
	}
	for _, pkg := range []string{"haproxy", "nginx-light"} {
		if !regexp.MustCompile(`\b` + pkg + `\b`).MatchString(finalRuns) {
			out = append(out, "runtime stage: "+pkg+" is not installed")
		}
	}
	for _, bin := range []string{"meshbench", "meshbench-sidecar"} {
		if !copied[bin] {
			out = append(out, "runtime stage: "+bin+" is not copied from the build stage")
		}
	}
	return out
}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDockerfile(t *testing.T) {
	p := parseDockerfile(t, readRepoFile(t, "Dockerfile"))
	for _, pr := range problems(p) {
		t.Error(pr)
	}
	if t.Failed() {
		return
	}
	t.Logf("%d stages: %s as %q, then %s", len(p.stages), p.stages[0].BaseName, p.stages[0].Name, p.stages[len(p.stages)-1].BaseName)
}

// TestDockerfileProblems shows that each rule above catches what it is for.
func TestDockerfileProblems(t *testing.T) {
	const good = `FROM golang:1.26.8-bookworm AS build
RUN CGO_ENABLED=0 go build -o /out/ ./cmd/meshbench ./cmd/meshbench-sidecar
FROM debian:12.11-slim
RUN apt-get install -y haproxy nginx-light
COPY --from=build /out/meshbench /out/meshbench-sidecar /usr/local/bin/
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/meshbench"]
`
	if got := problems(parseDockerfile(t, good)); len(got) != 0 {
		t.Fatalf("a good Dockerfile has problems: %q", got)
	}
	cases := []struct{ name, from, to, want string }{
		{"latest", "FROM golang:1.26.8-bookworm AS build", "FROM golang:latest AS build", "pin an exact version"},
		{"codename only", "FROM debian:12.11-slim", "FROM debian:bookworm", "pin an exact version"},
		{"root", "USER 10001:10001", "USER root", "unprivileged user"},
		{"no user", "USER 10001:10001\n", "", "unprivileged user"},
		{"shell entrypoint", `ENTRYPOINT ["/usr/local/bin/meshbench"]`, "ENTRYPOINT /usr/local/bin/meshbench", "shell form"},
		{"add url", "USER 10001", "ADD https://example.com/x.tar.gz /x\nUSER 10001", "ADD https://example.com/x.tar.gz"},
		{"cgo", "CGO_ENABLED=0 go build", "go build", "CGO_ENABLED=0"},
		{"no nginx", "haproxy nginx-light", "haproxy", "nginx-light is not installed"},
		{"no sidecar", " /out/meshbench-sidecar /usr", " /usr", "meshbench-sidecar is not copied"},
		{"buildkit lint", "AS build", "as build", "FromAsCasing"},
		{"one stage", "FROM golang:1.26.8-bookworm AS build\nRUN CGO_ENABLED=0 go build -o /out/ ./cmd/meshbench ./cmd/meshbench-sidecar\n", "", "multi-stage"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(good, c.from, c.to, 1)
			if bad == good {
				t.Fatalf("case does not change the Dockerfile")
			}
			got := problems(parseDockerfile(t, bad))
			if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, c.want) }) {
				t.Errorf("problems %q, want one with %q", got, c.want)
			}
		})
	}
}

// TestDockerContext checks that the build context the Dockerfile and
// .dockerignore let in holds every package the two binaries are built from.
func TestDockerContext(t *testing.T) {
	p := parseDockerfile(t, readRepoFile(t, "Dockerfile"))
	var copied []string
	for _, c := range p.stages[0].Commands {
		if cp, ok := c.(*instructions.CopyCommand); ok && cp.From == "" {
			for _, src := range cp.SourcePaths {
				copied = append(copied, strings.TrimSuffix(strings.TrimPrefix(src, "./"), "/"))
			}
		}
	}
	ignore := readRepoFile(t, ".dockerignore")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "-json=Dir,Module,Standard,EmbedFiles", "./cmd/meshbench", "./cmd/meshbench-sidecar")
	cmd.Dir = root
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(outb)))
	dirs := 0
	for dec.More() {
		var pkg struct {
			Dir      string
			Standard bool
			Module   *struct{ Main bool }
		}
		if err := dec.Decode(&pkg); err != nil {
			t.Fatal(err)
		}
		if pkg.Standard || pkg.Module == nil || !pkg.Module.Main {
			continue
		}
		rel, err := filepath.Rel(root, pkg.Dir)
		if err != nil {
			t.Fatal(err)
		}
		top := strings.Split(filepath.ToSlash(rel), "/")[0]
		if !slices.Contains(copied, top) {
			t.Errorf("package %s is outside what the build stage copies (%v)", rel, copied)
		}
		if !strings.Contains(ignore, "!"+top+"/") {
			t.Errorf(".dockerignore keeps %s/ out of the build context", top)
		}
		dirs++
	}
	if dirs < 5 {
		t.Fatalf("go list found only %d of meshbench's own packages", dirs)
	}
}
