#!/usr/bin/env bash
# setup.sh: installs what meshbench needs to build, run and test on Debian/Ubuntu.
#
#   scripts/setup.sh          installs what is missing (apt-get when root), fetches Go modules
#   scripts/setup.sh --check  only says what is missing; exits 1 if anything is
#
# haproxy and nginx are the proxies the haproxy and nginx paths measure; caddy
# is the proxy the exec path's tests run; GNU time is used by scripts/peers
# comparisons. Go itself (1.26 or newer) must already be on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

check_only=0
[[ ${1:-} == --check ]] && check_only=1

need_pkgs=()
command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]] || need_pkgs+=(haproxy)
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need_pkgs+=(nginx-light)
command -v caddy >/dev/null 2>&1 || need_pkgs+=(caddy)
[[ -x /usr/bin/time ]] || need_pkgs+=(time)
# npm and node: the gate's JUnit output is checked with a real JUnit reader from npm
# (internal/gate TestJUnitReadByARealConsumer), which skips without them.
command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)

if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go is not on PATH; install Go 1.26 or newer (https://go.dev/doc/install)" >&2
  exit 1
fi

if ((${#need_pkgs[@]})); then
  if ((check_only)); then
    echo "setup: missing packages: ${need_pkgs[*]}" >&2
    exit 1
  fi
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need_pkgs[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "setup: missing packages: ${need_pkgs[*]}" >&2
    echo "setup: run: sudo apt-get install -y ${need_pkgs[*]}" >&2
    exit 1
  fi
fi

# The Debian nginx package starts a system nginx on port 80 on install; meshbench
# runs its own nginx children and does not need it. Leave it alone if it was
# already there, but stop one we just started on a CI machine.
if [[ ${CI:-} == true ]] && command -v systemctl >/dev/null 2>&1; then
  systemctl stop nginx >/dev/null 2>&1 || true
fi

((check_only)) || go mod download
echo "setup: ok (haproxy $(haproxy -v 2>/dev/null | head -1 | awk '{print $3}'), nginx $(nginx -v 2>&1 | awk -F/ '{print $2}'), caddy $(caddy version 2>/dev/null | awk '{print $1}'), $(go version | awk '{print $3}'))" >&2
