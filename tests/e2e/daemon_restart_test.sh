#!/bin/bash
# SIGTERM stops kapseld and leaves containers running with their shims; a restarted daemon
# re-adopts them, and records exits that happened while it was down (also after SIGKILL).
source "$(dirname "$0")/lib.sh"
start_daemon

id=$(kctl run -d busybox sleep 300)
pid=$(kctl ps --format json | grep "$id" | sed 's/.*"Pid":\([0-9]*\).*/\1/')
[[ $pid -gt 0 ]] || fail "no pid for $id"
stop_daemon TERM
[[ ! -S $KAPSEL_SOCKET ]] || fail "socket left after SIGTERM"
kill -0 "$pid" || fail "container died with the daemon"
pass "containers outlive SIGTERM of kapseld"

start_daemon
kctl ps | grep -q "${id:0:12}" || fail "restarted daemon lost the running container"
pass "re-adopted after restart"

id2=$(kctl run -d busybox sh -c 'sleep 1; exit 7')
stop_daemon KILL
sleep 2
start_daemon
line=$(kctl ps -a --format json | grep "$id2") || fail "container lost after SIGKILL"
grep -q '"ExitCode":7' <<<"$line" || fail "exit during the outage not recorded: $line"
grep -q '"State":"exited"' <<<"$line" || fail "not exited: $line"
kctl ps | grep -q "${id:0:12}" || fail "the long-running container was lost"
pass "exit during an outage recorded with its code"

events=$(timeout 3 "$KAPSELCTL" events --since 0 --format json || true)
grep "$id2" <<<"$events" | grep -q '"exit"' || fail "no exit event for $id2: $events"
pass "events --since replays the exit"

# cgroup_parent: a restart with --cgroup-parent puts new containers below it; a container made
# before keeps its cgroup (its config.json's cgroupsPath), is stopped and removed with it.
parent="kapsel-e2e-$$/sub"
cg_dir() {  # cg_dir PARENT ID: the memory (v1) or unified (v2) cgroup dir
  if [[ -d /sys/fs/cgroup/memory ]]; then echo "/sys/fs/cgroup/memory/$1/$2"; else echo "/sys/fs/cgroup/$1/$2"; fi
}
CGROUP_PARENTS+=("$parent")
CGROUP_REMOVE+=("$parent" "${parent%/sub}")
stop_daemon TERM
start_daemon --cgroup-parent "$parent"
id3=$(kctl run -d busybox sleep 300)
[[ -d $(cg_dir "$parent" "$id3") ]] || fail "no cgroup $(cg_dir "$parent" "$id3")"
[[ ! -d $(cg_dir kapsel "$id3") ]] || fail "the new container is under kapsel/ too"
grep -q "$(cat "$(cg_dir "$parent" "$id3")/cgroup.procs" | head -n1)" <<<"$(kctl top "$id3")" ||
  fail "top does not find the processes of $id3 under $parent"
kctl stats --no-stream "$id3" >/dev/null || fail "stats of a container under $parent"
[[ -d $(cg_dir kapsel "$id") ]] || fail "the older container's cgroup kapsel/$id is gone"
kctl rm -f "$id" "$id3" >/dev/null
[[ ! -d $(cg_dir kapsel "$id") && ! -d $(cg_dir "$parent" "$id3") ]] ||
  fail "a cgroup was left after rm -f"
pass "--cgroup-parent $parent for new containers; the older one keeps kapsel/ and goes with rm"
