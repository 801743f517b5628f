#!/usr/bin/env bash
# loadgen-cost.sh: what meshbench's load generator costs beside its peers (wrk2, fortio), against
# one nginx (1 worker, 1 KiB body) that the script starts on 127.0.0.1 and stops on exit.
#
#   scripts/loadgen-cost.sh            RATES=2000,10000,20000,30000 REPEATS=3 SECS=8 CONNS=64
#
# For each rate it runs every tool REPEATS times, rotating the order each round so that drift of a
# noisy host spreads over all tools, each for SECS with CONNS connections under /usr/bin/time, and
# prints per tool and rate the medians of: CPU seconds (user+system, process start included) per
# 10k requests (and the lowest and highest of the REPEATS runs), achieved rate, p50 and p99 in ms as each tool reports them, and meshbench's late
# sends (more than 1 ms after the intended time) in percent of its requests: late_% all of them,
# loop_% those the load generator itself sent late (the rest waited for one of the CONNS
# connections, all busy with slow responses), host_% those of loop_% that were due before one of
# the loop's timer wake-ups came late (the host did not run it in time; 0 from builds before the
# result field loop_woke_late_count).
#
# meshbench runs `run --target URL --paths direct`, which measures the path and its A/A twin
# (direct-aa) one after the other: its requests are both rows', its p50/p99 the direct row's.
# Tools: MESHBENCH (default bin/meshbench, built by `make build`), WRK2 (default: wrk2 on PATH,
# else ~/.cache/meshbench-peers/bin/wrk2), FORTIO (likewise); a peer that is not found is skipped.
# MESHBENCH_BASE=PATH adds another meshbench binary as tool "mb-base" (say, a build of main), run
# in the same rounds, so that a change is compared in the same minutes.
# meshbench runs with its default send grouping (send_batch auto: in 250 µs slots from 4000 req/s).
# OFF=1 adds tool "mb-off": meshbench with --send-batch off (each request sent at its own time, one
# wake-up per request at high rates).
# KEEP=1 keeps the scratch directory (raw outputs) and prints its path.
set -euo pipefail

RATES=${RATES:-2000,10000,20000,30000}
REPEATS=${REPEATS:-3}
SECS=${SECS:-8}
CONNS=${CONNS:-64}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=$HOME/.cache/meshbench-peers/bin
MESHBENCH=${MESHBENCH:-$ROOT/bin/meshbench}

find_tool() { # NAME OVERRIDE: the override, else PATH, else the peers directory, else nothing
  if [[ -n $2 ]]; then echo "$2"; return; fi
  command -v "$1" 2>/dev/null || { [[ -x $PEERS/$1 ]] && echo "$PEERS/$1"; } || true
}
WRK2=$(find_tool wrk2 "${WRK2:-}")
FORTIO=$(find_tool fortio "${FORTIO:-}")

die() { echo "loadgen-cost.sh: $*" >&2; exit 2; }
[[ -x $MESHBENCH ]] || die "no meshbench at $MESHBENCH (make build, or set MESHBENCH)"
[[ -x /usr/bin/time ]] || die "needs /usr/bin/time (apt-get install time)"
command -v nginx >/dev/null || die "needs nginx on PATH"
command -v python3 >/dev/null || die "needs python3"

TMP=$(mktemp -d)
chmod 755 "$TMP" # nginx workers run as another user when started by root
NGINX_PID=
cleanup() {
  [[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  if [[ ${KEEP:-0} == 1 ]]; then echo "raw outputs kept in $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free port: bind port 0 and give it back (nginx binds it a moment later).
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$TMP/ngx/logs"
head -c 1024 /dev/zero | tr '\0' x >"$TMP/ngx/body.txt"
cat >"$TMP/ngx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/ngx/nginx.pid;
error_log $TMP/ngx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $TMP/ngx/tmp;
  proxy_temp_path $TMP/ngx/tmp;
  fastcgi_temp_path $TMP/ngx/tmp;
  uwsgi_temp_path $TMP/ngx/tmp;
  scgi_temp_path $TMP/ngx/tmp;
  server {
    listen 127.0.0.1:$PORT backlog=4096;
    location / { root $TMP/ngx; try_files /body.txt =404; }
  }
}
EOF
nginx -c "$TMP/ngx/nginx.conf" -p "$TMP/ngx" -e "$TMP/ngx/logs/error.log" 2>"$TMP/ngx/start.err" &
NGINX_PID=$!
URL=http://127.0.0.1:$PORT/
for _ in $(seq 50); do
  curl -fs -o /dev/null "$URL" 2>/dev/null && break
  kill -0 "$NGINX_PID" 2>/dev/null || die "nginx did not start: $(cat "$TMP/ngx/start.err")"
  sleep 0.1
done
curl -fs -o /dev/null "$URL" || die "nginx at $URL does not answer"

# timed OUT CMD...: runs CMD under GNU time; CPU seconds (user+system) go to OUT.time.
timed() {
  local out=$1; shift
  /usr/bin/time -f "%U %S" -o "$out.time" "$@" >"$out.stdout" 2>"$out.stderr" || true
}

run_meshbench() { # RATE OUT [EXTRA FLAGS...]
  rm -rf "$2.dir"
  timed "$2" "$MESHBENCH" run --target "$URL" --paths direct --rate "$1" --duration "${SECS}s" \
    --window "${SECS}s" --warmup 0s --connections "$CONNS" --no-host-stats --out "$2.dir" "${@:3}"
}
run_mb-base() { MESHBENCH=$MESHBENCH_BASE run_meshbench "$@"; }
run_mb-off() { run_meshbench "$@" --send-batch off; }
run_wrk2() { timed "$2" "$WRK2" -t2 -c"$CONNS" -d"${SECS}s" -R"$1" --latency "$URL"; }
run_fortio() {
  timed "$2" "$FORTIO" load -qps "$1" -t "${SECS}s" -c "$CONNS" -uniform -json "$2.json" "$URL"
}

TOOLS=(meshbench)
if [[ -n ${MESHBENCH_BASE:-} ]]; then
  [[ -x $MESHBENCH_BASE ]] || die "no meshbench at MESHBENCH_BASE=$MESHBENCH_BASE"
  TOOLS+=(mb-base)
fi
[[ -n ${OFF:-} ]] && TOOLS+=(mb-off)
[[ -n $WRK2 ]] && TOOLS+=(wrk2)
[[ -n $FORTIO ]] && TOOLS+=(fortio)
echo "target: nginx (1 worker, 1 KiB) at $URL; ${SECS}s, $CONNS connections, medians of $REPEATS" >&2
echo "tools: ${TOOLS[*]}" >&2

IFS=, read -ra rates <<<"$RATES"
for rate in "${rates[@]}"; do
  for ((r = 0; r < REPEATS; r++)); do
    n=${#TOOLS[@]}
    for ((i = 0; i < n; i++)); do
      tool=${TOOLS[$(((i + r) % n))]}
      echo "rate $rate round $((r + 1)): $tool" >&2
      "run_$tool" "$rate" "$TMP/$tool-$rate-$r"
    done
  done
done

python3 - "$TMP" "$RATES" "$REPEATS" "${TOOLS[@]}" <<'EOF'
import glob, json, re, statistics, sys
tmp, rates, repeats, tools = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4:]

def cpu(base):
    u, s = open(base + ".time").read().split()[-2:]
    return float(u) + float(s)

def meshbench(base):
    m = json.load(open(glob.glob(base + ".dir/*.json")[0]))
    rows = m["paths"]
    n = sum(p["requests"] for p in rows)
    late = sum(p["late"]["count"] for p in rows)
    loop = sum(p["late"].get("loop_count", 0) for p in rows)
    host = sum(p["late"].get("loop_woke_late_count", 0) for p in rows)
    d = next(p for p in rows if p["name"] == "direct")
    rate = statistics.mean(p["achieved_rate"] for p in rows)
    return (n, rate, d["latency_ms"]["p50"], d["latency_ms"]["p99"], 100 * late / max(n, 1), 100 * loop / max(n, 1),
            100 * host / max(n, 1))

def ms(v, unit):
    return float(v) * {"us": 1e-3, "ms": 1, "s": 1e3, "m": 6e4}[unit]

def wrk2(base):
    t = open(base + ".stdout").read()
    n = int(re.search(r"(\d+) requests in", t).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    pct = {}
    for q, v, u in re.findall(r"^\s*(\d+\.\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", t, re.M):
        pct.setdefault(float(q), ms(v, u))
    return n, rate, pct.get(50.0), pct.get(99.0), None, None, None

def fortio(base):
    m = json.load(open(base + ".json"))
    h = m["DurationHistogram"]
    p = {x["Percentile"]: x["Value"] * 1e3 for x in h["Percentiles"]}
    return h["Count"], m["ActualQPS"], p.get(50), p.get(99), None, None, None

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def fmt(v, f):
    return f"{'-':>{int(f.split('.')[0])}}" if v is None else format(v, f)

print(f"{'tool':<10} {'rate':>7} {'cpu_s/10k':>10} {'cpu_range':>12} {'achieved':>10} {'p50_ms':>8} {'p99_ms':>8} {'late_%':>7} {'loop_%':>7} {'host_%':>7} {'runs':>5}")
for rate in rates:
    for tool in tools:
        rows = []
        for r in range(repeats):
            base = f"{tmp}/{tool}-{rate}-{r}"
            try:
                n, ach, p50, p99, late, loop, host = globals()["meshbench" if tool.startswith("mb-") else tool](base)
                rows.append((cpu(base) / n * 1e4, ach, p50, p99, late, loop, host))
            except (OSError, ValueError, KeyError, IndexError, AttributeError, StopIteration, ZeroDivisionError) as e:
                print(f"# {tool} at {rate} round {r + 1}: no result ({type(e).__name__}: {e})", file=sys.stderr)
        cols = [med(c) for c in zip(*rows)] if rows else [None] * 7
        span = f"{min(r[0] for r in rows):.3f}-{max(r[0] for r in rows):.3f}" if rows else "-"
        print(f"{tool:<10} {rate:>7} {fmt(cols[0], '10.3f')} {span:>12} {fmt(cols[1], '10.0f')} {fmt(cols[2], '8.3f')} "
              f"{fmt(cols[3], '8.3f')} {fmt(cols[4], '7.2f')} {fmt(cols[5], '7.2f')} {fmt(cols[6], '7.2f')} {len(rows):>5}")
EOF
