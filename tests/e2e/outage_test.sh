#!/bin/bash
# Live restore through a crash: kill -9 of kapseld while 20 containers run, 5 of which exit
# during the outage with their own codes. The restarted daemon shows the 15 others still running
# (the same processes), the 5 exited with their true exit codes, and replays their exit events.
source "$(dirname "$0")/lib.sh"
start_daemon

field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" <<<"$2"; }
ps_line() { kctl ps -a --format json | grep "\"Id\":\"$1"; }

declare -A pid_of code_of
long=() short=()
for i in $(seq 1 15); do
  id=$(kctl run -d --network none busybox sleep 600)
  long+=("$id")
  pid_of[$id]=$(field Pid "$(ps_line "$id")")
done
# The short ones wait for a file that the test creates once kapseld is dead.
for i in $(seq 1 5); do
  code=$((20 + i))
  id=$(kctl run -d --network none busybox sh -c "while [ ! -e /go ]; do sleep 0.05; done; exit $code")
  short+=("$id")
  code_of[$id]=$code
  pid_of[$id]=$(field Pid "$(ps_line "$id")")
done
roots=()
for id in "${short[@]}"; do
  roots+=("$(kctl inspect --type container "$id" | sed -n 's/.*"rootfs": "\(.*\)".*/\1/p')")
done
[[ $(kctl ps -q | wc -l) -eq 20 ]] || fail "20 containers are not running: $(kctl ps)"

stop_daemon KILL
for root in "${roots[@]}"; do touch "$root/go"; done
# They exit while kapseld is down; their shims record the codes.
for id in "${short[@]}"; do
  for _ in $(seq 1 100); do kill -0 "${pid_of[$id]}" 2>/dev/null || break; sleep 0.05; done
  ! kill -0 "${pid_of[$id]}" 2>/dev/null || fail "${id:0:12} did not exit during the outage"
done
for id in "${long[@]}"; do kill -0 "${pid_of[$id]}" || fail "container ${id:0:12} died with kapseld"; done
start_daemon

running=$(kctl ps -q --no-trunc | sort)
[[ $(wc -l <<<"$running") -eq 15 ]] || fail "after restart $(wc -l <<<"$running") running, want 15: $(kctl ps -a)"
for id in "${long[@]}"; do
  line=$(ps_line "$id")
  [[ $(field State "$line") == running && $(field Pid "$line") == "${pid_of[$id]}" ]] ||
    fail "${id:0:12} not re-adopted as the same process: $line"
done
for id in "${short[@]}"; do
  line=$(ps_line "$id")
  [[ $(field State "$line") == exited && $(field ExitCode "$line") == "${code_of[$id]}" ]] ||
    fail "${id:0:12}: want exited (${code_of[$id]}): $line"
done
pass "after kill -9: 15 still running (same pids), 5 exited with codes 21..25"

timeout 5 "$KAPSELCTL" events --since 0 --format json >"$E2E_TMP/events" || true
for id in "${short[@]}"; do
  line=$(grep "\"ContainerId\":\"$id\"" "$E2E_TMP/events" | grep '"Type":"exit"') ||
    fail "no exit event for ${id:0:12}"
  grep -q "\"exit_code\":\"${code_of[$id]}\"" <<<"$line" || fail "exit event without its code: $line"
done
pass "events --since 0 replays the 5 exits with their codes"
