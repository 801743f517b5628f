# syntax=docker/dockerfile:1
# meshbench in a container: meshbench, meshbench-sidecar, haproxy and nginx.
#
#   docker build -t meshbench:dev --build-arg VERSION=$(git describe --tags --always) .
#   docker run --rm meshbench:dev run --paths direct,haproxy,nginx,linkerd
#
# Stage 1 builds both binaries statically (CGO_ENABLED=0); stage 2 is Debian
# slim with the proxies the haproxy and nginx paths measure. The entrypoint is
# the meshbench binary itself (exec form), so no shell runs at run time. It
# runs as the unprivileged user meshbench (uid 10001): every path works
# unprivileged, since meshbench writes the proxies' configs, pid files and
# temp directories under $TMPDIR and keeps them on ports above 1024.
# Base images are pinned to exact versions; add @sha256 digests for
# byte-for-byte rebuilds (deploy/kubernetes/manifests_test.go accepts them).

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
COPY scenarios ./scenarios
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/meshbench/meshbench/internal/cli.Version=${VERSION}" \
      -o /out/ ./cmd/meshbench ./cmd/meshbench-sidecar

FROM debian:12.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends haproxy nginx-light \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 meshbench \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/meshbench --create-home --shell /usr/sbin/nologin meshbench
COPY --from=build /out/meshbench /out/meshbench-sidecar /usr/local/bin/
USER 10001:10001
WORKDIR /var/lib/meshbench
ENTRYPOINT ["/usr/local/bin/meshbench"]
CMD ["run"]
