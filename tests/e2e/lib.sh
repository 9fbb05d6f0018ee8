# Shared set-up for the end-to-end tests: a real kapseld with its own data root, exec root and
# socket in a temp dir, driven through the real kapselctl. Sourced by each test script.
# Scripts exit 77 (CTest SKIP_RETURN_CODE) when they cannot run here.

set -euo pipefail

BIN_DIR=${KAPSEL_BIN_DIR:?KAPSEL_BIN_DIR must name the bin directory of a build}
FIXTURES=${KAPSEL_FIXTURES:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures" && pwd)}
KAPSELD=$BIN_DIR/kapseld
KAPSELCTL=$BIN_DIR/kapselctl

if [[ $(id -u) -ne 0 ]]; then echo "SKIP: needs root"; exit 77; fi
if [[ ! -x /bin/busybox ]]; then echo "SKIP: needs /bin/busybox (busybox-static)"; exit 77; fi

E2E_TMP=$(mktemp -d /tmp/kapsel-e2e.XXXXXX)
# The daemon makes the default bridge and its nft table on first use; a test run that found
# neither removes both at the end.
HAD_BRIDGE=0; [[ -e /sys/class/net/kapsel0 ]] && HAD_BRIDGE=1
HAD_NFT=0; nft list table ip kapsel >/dev/null 2>&1 && HAD_NFT=1
export KAPSEL_SOCKET=$E2E_TMP/run/kapsel.sock
DAEMON_PID=
# cgroup parents of the test's containers (kapseld --cgroup-parent adds one), and cgroups the
# test made that cleanup removes, deepest first.
CGROUP_PARENTS=(kapsel)
CGROUP_REMOVE=()
# Host links the test made outside kapseld (a CNI plugin's bridge), deleted by cleanup.
CLEANUP_LINKS=()
# Commands cleanup runs last (putting back a sysctl the test changed).
CLEANUP_CMDS=()

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

start_daemon() {  # extra arguments go to kapseld
  "$KAPSELD" --data-root "$E2E_TMP/data" --exec-root "$E2E_TMP/run" --log-level debug --no-ip-forward "$@" \
    >>"$E2E_TMP/kapseld.log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 1 200); do
    [[ -S $KAPSEL_SOCKET ]] && "$KAPSELCTL" version >/dev/null 2>&1 && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$E2E_TMP/kapseld.log" >&2; fail "kapseld died at start"; }
    sleep 0.05
  done
  cat "$E2E_TMP/kapseld.log" >&2
  fail "kapseld did not come up"
}

stop_daemon() {  # SIGTERM by default; stop_daemon KILL for a crash
  local sig=${1:-TERM}
  [[ -n $DAEMON_PID ]] || return 0
  kill -s "$sig" "$DAEMON_PID" 2>/dev/null || true
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=
}

kctl() { "$KAPSELCTL" "$@"; }

# Everything the test made: containers (through the daemon, so mounts and cgroups go too), then
# whatever a failure left: mounts under the temp dir, kapsel cgroups of its containers, the dir.
cleanup() {
  local rc=$?
  if [[ -n $DAEMON_PID ]]; then
    for id in $("$KAPSELCTL" ps -aq --no-trunc 2>/dev/null); do "$KAPSELCTL" rm -f "$id" >/dev/null 2>&1 || true; done
  fi
  stop_daemon TERM
  if [[ -d $E2E_TMP/data/containers ]]; then
    for dir in "$E2E_TMP"/data/containers/*/; do
      [[ -d $dir ]] || continue
      local id; id=$(basename "$dir")
      for parent in "${CGROUP_PARENTS[@]}"; do
        for cg in /sys/fs/cgroup/*/"$parent"/"$id" /sys/fs/cgroup/"$parent"/"$id"; do
          [[ -d $cg ]] || continue
          while read -r p; do kill -9 "$p" 2>/dev/null || true; done < "$cg/cgroup.procs"
        done
      done
    done
  fi
  sleep 0.2
  awk -v t="$E2E_TMP" '$2 ~ "^"t {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
  for parent in "${CGROUP_PARENTS[@]}"; do
    for cg in /sys/fs/cgroup/*/"$parent"/* /sys/fs/cgroup/"$parent"/*; do
      [[ -d $cg ]] || continue
      [[ -d $E2E_TMP/data/containers/$(basename "$cg") ]] && rmdir "$cg" 2>/dev/null || true
    done
  done
  for cg in "${CGROUP_REMOVE[@]}"; do
    for d in /sys/fs/cgroup/*/"$cg" /sys/fs/cgroup/"$cg"; do [[ -d $d ]] && rmdir "$d" 2>/dev/null || true; done
  done
  awk -v t="$E2E_TMP" '$2 ~ "^"t {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
  for link in "${CLEANUP_LINKS[@]}"; do ip link del "$link" 2>/dev/null || true; done
  for cmd in "${CLEANUP_CMDS[@]}"; do eval "$cmd" || true; done
  [[ $HAD_NFT -eq 1 ]] || nft delete table ip kapsel 2>/dev/null || true
  [[ $HAD_BRIDGE -eq 1 ]] || ip link del kapsel0 2>/dev/null || true
  if [[ $rc -ne 0 && -f $E2E_TMP/kapseld.log ]]; then echo "--- kapseld.log"; tail -n 50 "$E2E_TMP/kapseld.log"; fi
  rm -rf "$E2E_TMP"
  exit $rc
}
trap cleanup EXIT

# Runs a command, captures stdout, stderr and the exit code into OUT, ERR, RC.
capture() {
  set +e
  OUT=$("$@" 2>"$E2E_TMP/stderr")
  RC=$?
  ERR=$(cat "$E2E_TMP/stderr")
  set -e
}

count_containers() { "$KAPSELCTL" ps -aq | wc -l; }

# Gives NAME 65536 subordinate ids from START in /etc/subuid and /etc/subgid, for containers
# remapped to NAME (--userns remap:NAME); cleanup takes the lines out again (and a file it made).
# The temp dir (the data root's parent) becomes searchable, as /var/lib is, so that the remapped
# root reaches its rootfs.
add_subid_range() {  # add_subid_range NAME START
  local line="$1:$2:65536" f
  for f in /etc/subuid /etc/subgid; do
    if [[ -e $f ]]; then
      CLEANUP_CMDS+=("sed -i '/^$line\$/d' $f")
    else
      CLEANUP_CMDS+=("rm -f $f")
    fi
    echo "$line" >>"$f"
  done
  chmod 711 "$E2E_TMP"
}
