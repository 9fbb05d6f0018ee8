#!/bin/bash
# The lifecycle verbs beyond run/stop/rm on the real daemon: pause/unpause (freezer), restart,
# rename, update of limits on a running container, stats, top, ps filters, the stop signal and
# the restart policies (on-failure:N stops after N restarts; always survives a daemon restart).
source "$(dirname "$0")/lib.sh"
start_daemon

field() {  # field NAME JSON-LINE: the value of "NAME":value in a ps --format json line
  sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" <<<"$2"
}
ps_line() { kctl ps -a --format json | grep "\"Id\":\"$1"; }
cgroup_dir() {  # cgroup_dir CONTROLLER ID (v1) or the unified dir (v2)
  if [[ -d /sys/fs/cgroup/$1/kapsel/$2 ]]; then echo "/sys/fs/cgroup/$1/kapsel/$2"; else echo "/sys/fs/cgroup/kapsel/$2"; fi
}

# --- pause / unpause: a counter stops moving while paused and moves again after.
id=$(kctl run -d --name ticker busybox sh -c 'i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done')
root=$(kctl inspect "$id" | sed -n 's/.*"rootfs": "\(.*\)".*/\1/p')
[[ -d $root ]] || fail "no rootfs in inspect: $root"
sleep 0.5
kctl pause ticker >/dev/null
[[ $(field State "$(ps_line "$id")") == paused ]] || fail "not paused: $(ps_line "$id")"
a=$(cat "$root/tmp/n"); sleep 1; b=$(cat "$root/tmp/n")
[[ $a == "$b" ]] || fail "counter moved while paused: $a -> $b"
capture kctl pause ticker
[[ $RC -ne 0 && $ERR == *"already paused"* ]] || fail "second pause: rc=$RC $ERR"
kctl unpause ticker >/dev/null
sleep 0.5; c=$(cat "$root/tmp/n")
[[ $c -gt $b ]] || fail "counter did not move after unpause: $b -> $c"
capture kctl unpause ticker
[[ $RC -ne 0 && $ERR == *"is not paused"* ]] || fail "unpause of a running one: rc=$RC $ERR"
pass "pause freezes and unpause thaws ($a == $b, then $c)"

# A paused container still stops (the signal is delivered once thawed).
kctl pause ticker >/dev/null
kctl stop -t 5 ticker >/dev/null
[[ $(field State "$(ps_line "$id")") == exited ]] || fail "paused container did not stop"
pass "stop of a paused container"

# --- rename: the new name resolves, the old one does not, a taken one is refused.
other=$(kctl create --name taken busybox true)
kctl rename ticker clock
kctl inspect clock >/dev/null || fail "renamed container not found by its new name"
capture kctl inspect --type container ticker
[[ $RC -ne 0 ]] || fail "old name still resolves"
capture kctl rename clock taken
[[ $RC -ne 0 && $ERR == *"already in use"* ]] || fail "rename to a taken name: rc=$RC $ERR"
capture kctl rename clock 'bad/name'
[[ $RC -ne 0 && $ERR == *"bad/name"* ]] || fail "rename to an invalid name: rc=$RC $ERR"
kctl rm "$other" >/dev/null
pass "rename"

# --- restart: a new process, the restart event.
kctl start clock >/dev/null
pid1=$(field Pid "$(ps_line "$id")")
kctl restart -t 1 clock >/dev/null
pid2=$(field Pid "$(ps_line "$id")")
[[ $pid2 -gt 0 && $pid1 != "$pid2" ]] || fail "restart kept pid $pid1 -> $pid2"
timeout 3 "$KAPSELCTL" events --since 0 --format json --filter container="$id" >"$E2E_TMP/ev" || true
grep -q '"restart"' "$E2E_TMP/ev" || fail "no restart event: $(cat "$E2E_TMP/ev")"
for t in pause unpause rename; do grep -q "\"$t\"" "$E2E_TMP/ev" || fail "no $t event"; done
pass "restart gives a new process and an event"

# --- update: limits change live in the cgroup; bad values change nothing.
kctl update --memory 64m --pids-limit 50 clock >/dev/null
mem=$(cgroup_dir memory "$id")
if [[ -f $mem/memory.limit_in_bytes ]]; then lim=$(cat "$mem/memory.limit_in_bytes"); else lim=$(cat "$mem/memory.max"); fi
[[ $lim -eq $((64 * 1024 * 1024)) ]] || fail "memory limit after update: $lim"
[[ $(cat "$(cgroup_dir pids "$id")/pids.max") == 50 ]] || fail "pids.max after update"
capture kctl update --memory 1k clock
[[ $RC -ne 0 && $ERR == *"minimum"* ]] || fail "update below the minimum: rc=$RC $ERR"
[[ $(cat "$(cgroup_dir pids "$id")/pids.max") == 50 ]] || fail "a refused update changed pids.max"
# The new limits stay with the container: after a restart they are applied again.
kctl restart -t 1 clock >/dev/null
[[ $(cat "$(cgroup_dir pids "$id")/pids.max") == 50 ]] || fail "update lost across restart"
pass "update of a running container's limits"

# --- stats and top.
out=$(kctl stats --no-stream clock)
grep -q "${id:0:12}" <<<"$out" || fail "stats: $out"
grep -q "64MiB" <<<"$out" || fail "stats without the 64MiB limit: $out"
out=$(kctl top clock)
grep -q "while true" <<<"$out" || grep -q "sleep" <<<"$out" || fail "top: $out"
pass "stats and top"

# --- ps filters.
kctl create --name sleeper --label tier=db busybox sleep 1 >/dev/null
[[ $(kctl ps -q --filter status=created | wc -l) -eq 1 ]] || fail "status=created filter"
[[ $(kctl ps -aq --filter label=tier=db | wc -l) -eq 1 ]] || fail "label filter"
[[ $(kctl ps -aq --filter name=clock | wc -l) -eq 1 ]] || fail "name filter"
capture kctl ps --filter status=bogus
[[ $RC -ne 0 && $ERR == *"bogus"* ]] || fail "bad status filter: rc=$RC $ERR"
pass "ps filters"

# --- the stop signal: a container that traps USR1 and exits 42 on it.
sid=$(kctl run -d --stop-signal USR1 busybox sh -c 'trap "exit 42" USR1; while true; do sleep 0.1; done')
kctl stop -t 10 "$sid" >/dev/null
[[ $(field ExitCode "$(ps_line "$sid")") == 42 ]] || fail "stop signal not used: $(ps_line "$sid")"
capture kctl run -d --stop-signal NOPE busybox true
[[ $RC -eq 125 && $ERR == *"NOPE"* ]] || fail "bad stop signal: rc=$RC $ERR"
pass "--stop-signal"

# --- restart policies.
fid=$(kctl run -d --restart on-failure:3 busybox sh -c 'exit 3')
for _ in $(seq 1 100); do
  line=$(ps_line "$fid")
  [[ $(field RestartCount "$line") == 3 && $(field State "$line") == exited ]] && break
  sleep 0.1
done
sleep 1.2  # a fourth restart would come after 800 ms
line=$(ps_line "$fid")
[[ $(field RestartCount "$line") == 3 && $(field State "$line") == exited && $(field ExitCode "$line") == 3 ]] ||
  fail "on-failure:3: $line"
pass "on-failure:3 stops after 3 restarts"

capture kctl run -d --restart sometimes busybox true
[[ $RC -eq 125 && $ERR == *"sometimes"* ]] || fail "bad restart policy: rc=$RC $ERR"
capture kctl run -d --rm --restart always busybox true
[[ $RC -eq 125 && $ERR == *"conflicting"* ]] || fail "--rm with --restart: rc=$RC $ERR"

aid=$(kctl run -d --restart always busybox sleep 300)
apid=$(field Pid "$(ps_line "$aid")")
kill -9 "$apid"
for _ in $(seq 1 100); do
  line=$(ps_line "$aid")
  [[ $(field State "$line") == running && $(field Pid "$line") != "$apid" ]] && break
  sleep 0.1
done
[[ $(field State "$line") == running && $(field RestartCount "$line") -ge 1 ]] || fail "always did not restart: $line"
# Killed with the daemon down: the restarted daemon brings it back.
apid=$(field Pid "$line")
stop_daemon KILL
kill -9 "$apid"
sleep 0.5
start_daemon
for _ in $(seq 1 100); do
  line=$(ps_line "$aid")
  [[ $(field State "$line") == running ]] && break
  sleep 0.1
done
[[ $(field State "$line") == running && $(field Pid "$line") != "$apid" ]] ||
  fail "always did not survive a daemon restart: $line"
# stop keeps an always container down until started again.
kctl stop -t 1 "$aid" >/dev/null
sleep 0.5
[[ $(field State "$(ps_line "$aid")") == exited ]] || fail "always restarted after a stop"
pass "restart policy always: back after a kill, after a daemon restart, down after stop"
