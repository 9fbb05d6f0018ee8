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
