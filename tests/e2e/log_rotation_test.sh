#!/bin/bash
# Container logs rotated by size (--log-opt max-size=..,max-file=..; kapseld --log-max-size and
# --log-max-files as the defaults): at most max-file files of at most max-size plus one record
# each; `logs` shows what is kept in order, `logs -f` follows every line through rotations, and
# the logs outlive a daemon restart. Bad --log-opt values are refused and create nothing.
source "$(dirname "$0")/lib.sh"
start_daemon

log_dir() { echo "$E2E_TMP/data/containers/$1"; }
rootfs_of() { kctl inspect "$1" | sed -n 's/.*"rootfs": "\(.*\)".*/\1/p'; }
wait_for() {  # wait_for WHAT COMMAND...: up to 30 s
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" && return 0; sleep 0.1; done
  fail "timed out waiting for $what"
}
# Checks the numbers in "line N" output: consecutive from $2 to $3.
check_lines() {  # check_lines FILE FROM TO WHAT
  local want
  want=$(seq "$2" "$3" | sed 's/^/line /')
  if [[ $(cat "$1") != "$want" ]]; then
    diff <(echo "$want") "$1" | head -n 20 >&2
    fail "$4: lines $2..$3 not all there in order"
  fi
}

# --- bad values: a clear error, no container.
before=$(count_containers)
for opt in max-size=1k max-size=lots max-file=0 max-file=x mode=non-blocking; do
  capture kctl create --log-opt "$opt" busybox true
  [[ $RC -ne 0 ]] || fail "--log-opt $opt accepted"
  [[ $ERR == *"${opt%%=*}"* ]] || fail "--log-opt $opt: error does not name the option: $ERR"
done
capture kctl run -d --log-opt max-size=2k busybox true
[[ $RC -eq 125 && $ERR == *"max-size"* ]] || fail "run --log-opt max-size=2k: rc=$RC $ERR"
[[ $(count_containers) -eq $before ]] || fail "a refused --log-opt created a container"
pass "bad --log-opt values are refused, nothing created"

# --- rotation, followed: 2000 numbered lines in batches, the follower started before them.
N=2000
id=$(kctl run -d --name rot --log-opt max-size=4k --log-opt max-file=3 busybox sh -c \
  "while [ ! -e /tmp/go ]; do sleep 0.05; done
   i=1; while [ \$i -le $N ]; do echo \"line \$i\"; [ \$((i % 100)) -eq 0 ] && sleep 0.1; i=\$((i+1)); done")
"$KAPSELCTL" logs -f rot >"$E2E_TMP/follow.out" 2>"$E2E_TMP/follow.err" &
follower=$!
sleep 0.5
touch "$(rootfs_of rot)/tmp/go"
kctl wait rot >/dev/null
# The follower ends by itself when the container has exited.
for _ in $(seq 1 100); do kill -0 "$follower" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$follower" 2>/dev/null; then kill "$follower"; fail "logs -f did not end after the exit"; fi
wait "$follower" || fail "logs -f failed: $(cat "$E2E_TMP/follow.err")"
check_lines "$E2E_TMP/follow.out" 1 $N "logs -f"
pass "logs -f saw lines 1..$N in order through the rotations"

# --- what is kept: at most 3 files, each at most 4 KiB plus one record.
files=("$(log_dir "$id")"/container.log*)
[[ ${#files[@]} -ge 2 && ${#files[@]} -le 3 ]] || fail "want 2-3 log files: ${files[*]}"
for f in "${files[@]}"; do
  size=$(stat -c %s "$f")
  [[ $size -le $((4096 + 100)) ]] || fail "$f holds $size bytes"
done
kctl logs rot >"$E2E_TMP/kept.out"
first=$(head -n 1 "$E2E_TMP/kept.out" | sed 's/line //')
[[ $first -gt 1 ]] || fail "nothing was rotated away: first kept line is $first"
check_lines "$E2E_TMP/kept.out" "$first" $N "logs"
pass "${#files[@]} files of at most 4 KiB + one record; logs shows lines $first..$N without gaps"

capture kctl logs --tail 3 rot
[[ $OUT == $'line 1998\nline 1999\nline 2000' ]] || fail "logs --tail 3: '$OUT'"
capture kctl logs --timestamps --tail 1 rot
[[ $OUT =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z\ line\ 2000$ ]] ||
  fail "logs --timestamps: '$OUT'"
capture kctl logs --since 1h rot
[[ $RC -eq 0 && $(wc -l <<<"$OUT") -eq $((N - first + 1)) ]] || fail "logs --since 1h: rc=$RC"
capture kctl logs --since "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" rot
[[ $RC -eq 0 && -z $OUT ]] || fail "logs --since a future time: rc=$RC '$OUT'"
capture kctl logs --since yesterday rot
[[ $RC -ne 0 && $ERR == *"--since"* ]] || fail "logs --since yesterday: rc=$RC $ERR"
pass "logs --tail, --timestamps and --since"

# --- a daemon restart: the logs stay, and a running container's shim goes on writing them.
tick=$(kctl run -d --name tick --log-opt max-size=4k --log-opt max-file=2 busybox sh -c \
  'i=1; while true; do echo "line $i"; i=$((i+1)); sleep 0.01; done')
tick_has() { kctl logs tick | grep -q "^line $1$"; }
wait_for "tick output" tick_has 50
stop_daemon TERM
sleep 1
start_daemon
cmp -s "$E2E_TMP/kept.out" <(kctl logs rot) || fail "logs of rot changed across the restart"
kctl logs tick >"$E2E_TMP/tick.out"
first=$(head -n 1 "$E2E_TMP/tick.out" | sed 's/line //')
last=$(tail -n 1 "$E2E_TMP/tick.out" | sed 's/line //')
[[ $last -gt 100 ]] || fail "tick wrote nothing while the daemon was down: last line $last"
check_lines "$E2E_TMP/tick.out" "$first" "$last" "logs after the restart"
files=("$(log_dir "$tick")"/container.log*)
[[ ${#files[@]} -le 2 ]] || fail "tick keeps more than 2 files: ${files[*]}"
pass "logs survive a daemon restart (tick: lines $first..$last)"

# --- logs -f of a running container follows on across its rotations.
timeout 2 "$KAPSELCTL" logs -f --tail 1 tick >"$E2E_TMP/tick-follow.out" || true
a=$(head -n 1 "$E2E_TMP/tick-follow.out" | sed 's/line //')
b=$(tail -n 1 "$E2E_TMP/tick-follow.out" | sed 's/line //')
[[ $b -gt $((a + 50)) ]] || fail "logs -f of a running container: $a..$b"
check_lines "$E2E_TMP/tick-follow.out" "$a" "$b" "logs -f --tail 1 of a running container"
kctl rm -f tick >/dev/null
pass "logs -f --tail 1 follows a running container ($a..$b)"

# --- the daemon's defaults apply to containers without --log-opt.
stop_daemon TERM
"$KAPSELD" --data-root "$E2E_TMP/data" --exec-root "$E2E_TMP/run" --log-level debug \
  --log-max-size 8k --log-max-files 2 >>"$E2E_TMP/kapseld.log" 2>&1 &
DAEMON_PID=$!
daemon_up() { [[ -S $KAPSEL_SOCKET ]] && "$KAPSELCTL" version >/dev/null 2>&1; }
wait_for "kapseld" daemon_up
dflt=$(kctl run -d busybox sh -c 'i=1; while [ $i -le 3000 ]; do echo "line $i"; i=$((i+1)); done')
kctl wait "$dflt" >/dev/null
files=("$(log_dir "$dflt")"/container.log*)
[[ ${#files[@]} -eq 2 ]] || fail "daemon default max-files 2: ${files[*]}"
for f in "${files[@]}"; do
  [[ $(stat -c %s "$f") -le $((8192 + 100)) ]] || fail "daemon default max-size 8k: $f"
done
pass "kapseld --log-max-size/--log-max-files are the defaults"
