#!/usr/bin/env bash
# test-fleet.sh: runs the fleet playbook (deploy/ansible/fleet.yml) for real
# against two "candidate VPSes" made on this machine, and checks the result.
#
#   sudo scripts/test-fleet.sh      (or: sudo make test-fleet)
#
# Each candidate is a network namespace joined to this one by a veth pair
# (10.200.N.0/30 and 10.200.N.4/30), with its own hostname (a UTS namespace)
# and its own sshd that takes a key made here. Debian's ansible runs the
# playbook over SSH with a short scenario. Two more inventory entries must be
# reported as failed, not dropped: one whose SSH port refuses connections, and
# one whose run outlasts its per-host time limit. The check: both candidates
# measured, each result carrying its own hostname, the comparison report naming
# both, the summary listing all four hosts, and no meshbench process left in
# either namespace.
#
# Needs root and a kernel that allows network namespaces; otherwise it says so
# and exits 0. Installs what it needs with apt-get. Everything it makes
# (namespaces, sshd processes, the temp dir) is removed on every exit path.
# Traffic goes only to the namespaces' addresses and to their own 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "test-fleet: $*"; }
skip() { say "SKIP: $*"; exit 0; }

[[ $(id -u) == 0 ]] || skip "needs root (network namespaces and sshd); run: sudo make test-fleet"
command -v go >/dev/null 2>&1 || { say "Go is not on PATH"; exit 1; }

# --- what it needs --------------------------------------------------------
need=()
command -v ansible-playbook >/dev/null 2>&1 || need+=(ansible)
[[ -x /usr/sbin/sshd ]] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
# The playbook's apt task runs inside the namespaces, which have no route out:
# the packages it asks for must already be here, and so must python3-apt,
# which the apt module would otherwise try to install.
command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]] || need+=(haproxy)
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
/usr/bin/python3 -c 'import apt' >/dev/null 2>&1 || need+=(python3-apt)
if ((${#need[@]})); then
  command -v apt-get >/dev/null 2>&1 || { say "missing ${need[*]} and no apt-get to install them"; exit 1; }
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # On a machine with systemd, Debian starts its own ssh and nginx services
  # on install; this test uses neither, so stop those it just installed.
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    [[ " ${need[*]} " == *" openssh-server "* ]] && systemctl disable --now ssh >/dev/null 2>&1 || true
    [[ " ${need[*]} " == *" nginx-light "* ]] && systemctl disable --now nginx >/dev/null 2>&1 || true
  fi
fi

# --- namespaces -------------------------------------------------------------
id=$$
net=$((id % 250))
ns_a="mbfleet${id}a" ns_b="mbfleet${id}b"
work=$(mktemp -d /tmp/meshbench-fleet.XXXXXX)
pids=() ansible_pid=

cleanup() {
  local rc=$?
  set +e
  if [[ -n $ansible_pid ]]; then
    kill "$ansible_pid" 2>/dev/null
    wait "$ansible_pid" 2>/dev/null
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for ns in "$ns_a" "$ns_b"; do
    if ip netns list 2>/dev/null | grep -qw "$ns"; then
      # Anything still running in a namespace this test made is the test's.
      for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
      ip netns del "$ns"
    fi
  done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! ip netns add "$ns_a" 2>/dev/null; then
  skip "cannot create network namespaces here (ip netns add failed)"
fi
ip netns add "$ns_b"

# make_host NS VETH-HOST-SIDE HOST-ADDR NS-ADDR HOSTNAME
make_host() {
  local ns=$1 veth=$2 outer=$3 inner=$4 name=$5 dir=$work/$5
  ip link add "$veth" type veth peer name "${veth}p"
  ip link set "${veth}p" netns "$ns"
  ip addr add "$outer/30" dev "$veth"
  ip link set "$veth" up
  ip -n "$ns" addr add "$inner/30" dev "${veth}p"
  ip -n "$ns" link set "${veth}p" up
  ip -n "$ns" link set lo up   # meshbench's backend and proxies listen on 127.0.0.1

  mkdir -p "$dir"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/ssh_host_ed25519_key"
  echo "$inner $(cut -d' ' -f1,2 "$dir/ssh_host_ed25519_key.pub")" >>"$work/known_hosts"
  cat >"$dir/sshd_config" <<EOF
Port 22
ListenAddress $inner
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $work/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
Subsystem sftp internal-sftp
EOF
  # unshare --uts gives the sshd, and every session it starts, its own
  # hostname, which meshbench records as the result's host.
  ip netns exec "$ns" unshare --uts /bin/sh -c \
    'echo "$1" >/proc/sys/kernel/hostname && exec /usr/sbin/sshd -D -e -f "$2"' \
    sh "$name" "$dir/sshd_config" >"$dir/sshd.log" 2>&1 &
  pids+=($!)
}

mkdir -p /run/sshd   # sshd's privilege-separation directory
ssh-keygen -q -t ed25519 -N '' -f "$work/id_ed25519"
cp "$work/id_ed25519.pub" "$work/authorized_keys"
addr_a=10.200.$net.2 addr_b=10.200.$net.6
make_host "$ns_a" "mbf${id}a" "10.200.$net.1" "$addr_a" cand-a
make_host "$ns_b" "mbf${id}b" "10.200.$net.5" "$addr_b" cand-b

# Wait until each sshd lets the test's key in (bounded: 100 tries).
ssh_opts=(-i "$work/id_ed25519" -o BatchMode=yes -o UserKnownHostsFile="$work/known_hosts"
  -o StrictHostKeyChecking=yes -o ConnectTimeout=2)
for addr in "$addr_a" "$addr_b"; do
  for ((i = 0; ; i++)); do
    ssh "${ssh_opts[@]}" "root@$addr" true 2>/dev/null && break
    if ((i >= 100)); then say "sshd on $addr did not come up:"; cat "$work"/cand-*/sshd.log; exit 1; fi
    sleep 0.1
  done
done
say "two candidate hosts up: cand-a ($addr_a, netns $ns_a), cand-b ($addr_b, netns $ns_b)"

# --- the playbook -----------------------------------------------------------
say "building meshbench"
go build -o "$work/bin/" ./cmd/meshbench ./cmd/meshbench-sidecar

# A short scenario, copied to each host by the playbook.
cat >"$work/fleet.yaml" <<EOF
name: fleet-test
description: two paths for two seconds, for scripts/test-fleet.sh
paths: [direct, haproxy]
rate: 200
duration: 2s
warmup: 1s
EOF
cat >"$work/inventory.yml" <<EOF
candidates:
  hosts:
    cand-a:
      ansible_host: $addr_a
      meshbench_dir: $work/hosts/cand-a
    cand-b:
      ansible_host: $addr_b
      meshbench_dir: $work/hosts/cand-b
    # Same sshd as cand-a, but its run takes far longer than its time limit.
    cand-slow:
      ansible_host: $addr_a
      meshbench_dir: $work/hosts/cand-slow
      meshbench_timeout: 6
      meshbench_run_args: ["--paths", "direct", "--duration", "120s", "--warmup", "1s", "--rate", "50"]
    # Nothing listens on this port: the host cannot be reached.
    cand-down:
      ansible_host: $addr_a
      ansible_port: 2222
      meshbench_dir: $work/hosts/cand-down
      meshbench_connect_timeout: 3
  vars:
    ansible_user: root
    ansible_ssh_private_key_file: $work/id_ed25519
    ansible_ssh_common_args: -o UserKnownHostsFile=$work/known_hosts -o StrictHostKeyChecking=yes -o ControlMaster=no -o ControlPath=none
    ansible_python_interpreter: /usr/bin/python3
    # The candidates share this machine's filesystem: each keeps ansible's
    # files in its own directory, as it keeps meshbench's.
    ansible_remote_tmp: "{{ meshbench_dir }}/.ansible/tmp"
    ansible_async_dir: "{{ meshbench_dir }}/.ansible/async"
    meshbench_become: false
    meshbench_host_duration: 2s
    meshbench_timeout: 120
    meshbench_scenario: $work/fleet.yaml
    meshbench_run_args: ["--probes", "jitter,fsync,audit"]
EOF

say "running the playbook against cand-a, cand-b, cand-slow and cand-down"
export ANSIBLE_CONFIG="$PWD/deploy/ansible/ansible.cfg" ANSIBLE_LOCAL_TEMP="$work/ansible-local" \
  ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
# The controller's own settings go in as extra vars: the implicit localhost
# is in no inventory group. In the background, so that a signal to this script
# is handled at once (cleanup stops timeout, which passes it on to ansible).
timeout 600 ansible-playbook -i "$work/inventory.yml" deploy/ansible/fleet.yml \
  -e "meshbench_bin_dir=$work/bin meshbench_collect_root=$work/collect" >"$work/playbook.log" 2>&1 &
ansible_pid=$!
rc=0
wait "$ansible_pid" || rc=$?
ansible_pid=
if ((rc != 0)); then
  cat "$work/playbook.log"
  say "FAIL: ansible-playbook exited $rc"
  exit 1
fi
# The comparison and the summary, as the playbook showed them.
sed -n '/TASK \[Show which hosts were measured\]/,$p' "$work/playbook.log"

# --- checks -----------------------------------------------------------------
passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then
    say "ok: $what"
    passed=$((passed + 1))
  else
    say "FAIL: $what"
    failed=$((failed + 1))
  fi
}
run_dir=$(find "$work/collect" -mindepth 1 -maxdepth 1 -type d | head -1)
summary=$run_dir/summary.md comparison=$run_dir/comparison.md
# host_of FILE prints the hostname a meshbench result or host file records.
host_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["host"]["hostname"])' "$1"; }
scenario_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["scenario"]["name"])' "$1"; }
run_file() { find "$run_dir/$1" -name 'cand-*-*.json' | head -1; }

check "summary lists cand-a as measured" \
  grep -qE '^\| cand-a \|.*\| measured \|' "$summary"
check "summary lists cand-b as measured" grep -qE '^\| cand-b \|.*\| measured \|' "$summary"
check "summary lists cand-slow as failed in the run step (time limit)" \
  grep -qE '^\| cand-slow \|.*\*\*FAILED\*\* \| Run the benchmark \(meshbench run\) \| stopped at the time limit of 6 s' "$summary"
check "summary lists cand-down as failed at connecting" \
  grep -qE '^\| cand-down \|.*\*\*FAILED\*\* \| Wait for the host to answer' "$summary"
check "cand-a's result records hostname cand-a" test "$(host_of "$(run_file cand-a)")" = cand-a
check "cand-b's result records hostname cand-b" test "$(host_of "$(run_file cand-b)")" = cand-b
check "cand-a ran the scenario the playbook copied" test "$(scenario_of "$(run_file cand-a)")" = fleet-test
check "cand-b ran the scenario the playbook copied" test "$(scenario_of "$(run_file cand-b)")" = fleet-test
check "cand-b's host probe records hostname cand-b" test "$(host_of "$run_dir/cand-b/host.json")" = cand-b
check "comparison report has a section for each host" \
  sh -c "grep -q '^### cand-a' '$comparison' && grep -q '^### cand-b' '$comparison'"
# comparison_has PATTERN: a line of the report's side-by-side table matches.
comparison_has() { sed -n '/^## Comparison/,/^## Percentiles/p' "$comparison" | grep -qE "$1"; }
check "comparison table has haproxy's overhead column" comparison_has '\| haproxy \+p50 \|'
check "comparison table has a row for cand-a" comparison_has '^\| cand-a +\|'
check "comparison table has a row for cand-b" comparison_has '^\| cand-b +\|'
check "charts were written" sh -c "ls '$run_dir'/charts/*.svg >/dev/null 2>&1"
check "host-quality table has a row per measured host" \
  sh -c "sed -n '/which host is noisy/,\$p' '$summary' | grep -qE '^\| cand-a \| cand-a \|' && sed -n '/which host is noisy/,\$p' '$summary' | grep -qE '^\| cand-b \| cand-b \|'"
# The timed-out run was killed with its backend: only sshd may be left.
leftover() {
  local ns p comm out=""
  for ns in "$ns_a" "$ns_b"; do
    for p in $(ip netns pids "$ns"); do
      comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
      [[ $comm == sshd ]] || out+="$ns:$p:$comm "
    done
  done
  [[ -z $out ]] || { echo "left running: $out"; return 1; }
}
check "no meshbench, haproxy or nginx process left in the namespaces" leftover

if ((failed)); then
  say "the playbook's output:"
  cat "$work/playbook.log"
  say "summary.md:"
  cat "$summary"
  say "comparison.md:"
  cat "$comparison"
  say "$passed passed, $failed failed"
  exit 1
fi
say "2 hosts measured and compared, 2 failing hosts listed"
say "$passed passed, $failed failed"
