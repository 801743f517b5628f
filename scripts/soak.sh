#!/usr/bin/env bash
# soak.sh: a long run that shows whether meshbench or its sidecar grows.
#
#   scripts/soak.sh [MINUTES] [RATE]     default: 10 minutes at 2000 req/s
#
# Runs direct, haproxy and linkerd (and the A/A path) interleaved for MINUTES in all at RATE
# req/s, samples the resident set (VmRSS) of meshbench and of every sidecar
# it started every 10 s, and prints each process's RSS after warm-up (the
# first minute) and at the end, with the run's requests and errors. It fails
# when any process grew more than 10% after warm-up. Traffic stays on
# 127.0.0.1; the run stops by itself. Not part of make test (it takes
# MINUTES); `make soak` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-10}
rate=${2:-2000}
out=$(mktemp -d /tmp/mbsoak.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT

make -s build
# Four paths share the time (direct-aa, the run's A/A, joins the three):
# each gets a quarter, in 10 s windows.
per_path=$((minutes * 60 / 4))
bin/meshbench run --paths direct,haproxy,linkerd --rate "$rate" \
  --duration "${per_path}s" --window 10s --warmup 5s --out "$out" --format json \
  >"$out/result.stdout" 2>"$out/progress" &
pid=$!

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
comm() { cat "/proc/$1/comm" 2>/dev/null || echo gone; }

declare -A first last name
start=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
  now=$(( $(date +%s) - start ))
  for p in $pid $(pgrep -P "$pid" || true); do
    n=$(comm "$p")
    case $n in meshbench|meshbench-sidec*) ;; *) continue ;; esac
    r=$(rss "$p")
    [[ $r == 0 ]] && continue
    name[$p]=$n
    # Warm-up: the first minute fills pools, caches and histograms.
    if (( now >= 60 )) && [[ -z ${first[$p]:-} ]]; then first[$p]=$r; fi
    last[$p]=$r
  done
  sleep 10
done
wait "$pid" || { echo "soak: meshbench run failed:"; tail -5 "$out/progress"; exit 1; }

python3 - "$out/result.stdout" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
for name in ("direct", "haproxy", "linkerd"):
    rows = [p for p in f["paths"] if p["name"] == name]
    print(f"soak: {name}: {sum(p['requests'] for p in rows)} requests, {sum(p['errors'] for p in rows)} errors, p99 {max(p['latency_ms']['p99'] for p in rows):.3f} ms (worst round)")
PY
fail=0
for p in "${!last[@]}"; do
  a=${first[$p]:-0}; b=${last[$p]}
  if (( a == 0 )); then echo "soak: ${name[$p]} (pid $p): ended before warm-up was over"; continue; fi
  growth=$(( (b - a) * 100 / a ))
  echo "soak: ${name[$p]} (pid $p): RSS $((a / 1024)) MB after warm-up, $((b / 1024)) MB at the end (${growth}%)"
  (( growth > 10 )) && fail=1
done
if (( fail )); then echo "soak: FAIL: a process grew more than 10% after warm-up"; exit 1; fi
echo "soak: ok ($minutes min at $rate req/s)"
