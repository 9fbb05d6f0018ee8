#!/bin/bash
# Inside a container, ps shows only the container's processes and mountinfo only its mounts.
source "$(dirname "$0")/lib.sh"
start_daemon

capture kctl run --rm busybox sh -c 'sleep 30 & ps -o pid,comm; true'
[[ $RC -eq 0 ]] || fail "rc=$RC $ERR"
procs=$(tail -n +2 <<<"$OUT" | wc -l)
[[ $procs -eq 3 ]] || fail "expected sh, its child and ps, got: $OUT"
grep -q '^ *1 sh$' <<<"$OUT" || fail "PID 1 is not the container's sh: $OUT"
grep -q kapseld <<<"$OUT" && fail "host process visible: $OUT"
pass "only the container's processes"

capture kctl run --rm busybox cat /proc/self/mountinfo
grep -q "$E2E_TMP" <<<"$OUT" || fail "root is not the overlay: $OUT"
bad=$(awk '{print $5}' <<<"$OUT" | grep -vE '^/(proc|dev|sys)?(/|$)|^/etc/(hostname|hosts|resolv\.conf)$' || true)
[[ -z $bad ]] || fail "unexpected mount points: $bad"
pass "mountinfo shows only container mounts"

host_ipc=$(readlink /proc/self/ns/ipc)
capture kctl run --rm busybox readlink /proc/self/ns/ipc
[[ $OUT != "$host_ipc" ]] || fail "ipc namespace shared with the host"
capture kctl run --rm busybox readlink /proc/self/ns/net
[[ $OUT != "$(readlink /proc/self/ns/net)" ]] || fail "network namespace shared with the host"
pass "ipc and net namespaces"
