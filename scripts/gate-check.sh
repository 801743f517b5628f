#!/usr/bin/env bash
# gate-check.sh: how meshbench's CI gates decide on this host, measured (about 25 minutes).
#
#   scripts/gate-check.sh [OUT]          OUT: directory for the result files (default: a temp dir)
#
# Runs `run --paths direct,haproxy --rate 1000 --trials 5 --duration 4s --window 2s` (5 rounds of
# 2 s windows, two per path per round) as a baseline (remade up to 3 times until healthy), then gates
# against it with "*.p50<=+10%" (and "*.p99<=+25%" on the same files): the same command again, the
# same with --backend-delay 300us, and ten more repetitions (A/A: any "regressed" is a false
# positive). Then three A/B scenarios in one run each: direct against a path answering 200 us later,
# direct against itself, and paths answering 10, 20, 50, 100 us later (the smallest effect 5 rounds
# resolve). One line per gate: its exit code and the decisions it printed.
# MESHBENCH: the binary (default bin/meshbench). AA: repetitions (default 10).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
M=${MESHBENCH:-$ROOT/bin/meshbench}
[[ -x $M ]] || { echo "gate-check.sh: no meshbench at $M (make build, or set MESHBENCH)" >&2; exit 2; }
O=${1:-$(mktemp -d)}
mkdir -p "$O"
CMD=(run --paths direct,haproxy --rate 1000 --trials 5 --duration 4s --window 2s --warmup 500ms)

gate() { # NAME RESULT-DIR RULE
  local n=$1 f; f=$(ls "$2"/*.json)
  "$M" gate "$f" --baseline "$B" --max "$3" >"$O/$n.gate" 2>&1
  printf '%-10s exit %d: %s\n' "$n" $? "$(grep -oE '(direct|haproxy|direct-aa): (regressed|improved|no significant change|inconclusive)' "$O/$n.gate" |
    awk -F': ' '{print $2}' | sort | uniq -c | tr -s ' \n' ' ')$(grep -o 'unhealthy: .*' "$O/$n.gate" | head -1 | cut -c1-120)"
}
measure() { rm -rf "$O/$1"; "$M" "${CMD[@]}" "${@:2}" --out "$O/$1" >/dev/null 2>"$O/$1.err"; }

for try in 1 2 3; do
  measure base
  B=$(ls "$O"/base/*.json)
  h=$("$M" gate "$B" --max '*.error_rate<=100' 2>&1 | grep 'health of the result')
  echo "baseline try $try: ${h#*: }"
  [[ $h == *": healthy"* ]] && break
done
measure same && gate same "$O/same" '*.p50<=+10%' && gate same-p99 "$O/same" '*.p99<=+25%'
measure d300 --backend-delay 300us && gate d300 "$O/d300" '*.p50<=+10%'
for i in $(seq 1 "${AA:-10}"); do
  measure "aa$i" && gate "aa$i" "$O/aa$i" '*.p50<=+10%' && gate "aa$i-p99" "$O/aa$i" '*.p99<=+25%'
done

ab() { # NAME GATES PATHS...
  local n=$1 g=$2; shift 2
  { echo "name: $n"; echo "paths:"; printf '  - %s\n' "$@"
    echo "rate: 1000"; echo "duration: 4s"; echo "window: 2s"; echo "warmup: 500ms"; echo "trials: 5"
    echo "gates:"; printf '%s\n' "$g"; } >"$O/$n.yaml"
  "$M" run "$O/$n.yaml" --out "$O/$n" >"$O/$n.txt" 2>"$O/$n.err"
  echo "$n: run exit $?"
  grep -E '^gate: (PASS|FAIL|WARN)' "$O/$n.err" | cut -c1-200
}
ab ab-200us '  - "direct-b.p50 <= direct.p50 +10%"' direct '{name: direct-b, kind: direct, settings: {added_delay: 200us}}'
ab ab-same '  - "direct-b.p50 <= direct.p50 +10%"' direct '{name: direct-b, kind: direct}'
rules=""
for d in 10us 20us 50us 100us; do rules+="  - \"delay-$d.p50 <= direct.p50 +0us\""$'\n'; done
ab ab-smallest "${rules%$'\n'}" direct '{name: delay-10us, kind: direct, settings: {added_delay: 10us}}' \
  '{name: delay-20us, kind: direct, settings: {added_delay: 20us}}' '{name: delay-50us, kind: direct, settings: {added_delay: 50us}}' \
  '{name: delay-100us, kind: direct, settings: {added_delay: 100us}}'
echo "result files and gate outputs in $O"
