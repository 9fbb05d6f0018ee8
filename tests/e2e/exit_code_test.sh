#!/bin/bash
# run exits with the container's own code; ps -a --format json records it.
source "$(dirname "$0")/lib.sh"
start_daemon

capture kctl run --name three busybox sh -c 'exit 3'
[[ $RC -eq 3 ]] || fail "run exit 3: rc=$RC err=$ERR"
pass "run returns 3"

json=$(kctl ps -a --format json)
line=$(grep '"Names":"three"' <<<"$json") || fail "ps -a --format json has no 'three': $json"
grep -q '"State":"exited"' <<<"$line" || fail "not exited: $line"
grep -q '"ExitCode":3' <<<"$line" || fail "exit code not 3: $line"
pass "ps -a --format json shows exited 3"

id=$(kctl run -d busybox sleep 300)
kctl kill -s KILL "$id" >/dev/null
capture kctl wait "$id"
[[ $RC -eq 0 && $OUT == 137 ]] || fail "killed by SIGKILL: wait printed '$OUT' rc=$RC, want 137"
kctl ps -a --format json | grep "$id" | grep -q '"ExitCode":137' || fail "ps does not show 137"
kctl rm "$id" >/dev/null
pass "signal death gives 128+9"

capture kctl run --rm busybox sh -c 'echo out; echo err >&2; exit 0'
[[ $OUT == out && $ERR == err ]] || fail "stdout/stderr split: out='$OUT' err='$ERR'"
pass "stdout and stderr kept apart"

kctl run --name chatty busybox sh -c 'for i in 1 2 3 4 5; do echo line$i; done' >/dev/null
capture kctl logs --tail 2 chatty
[[ $RC -eq 0 && $OUT == $'line4\nline5' ]] || fail "logs --tail 2: rc=$RC out='$OUT' err='$ERR'"
capture kctl logs chatty
[[ $(wc -l <<<"$OUT") -eq 5 ]] || fail "logs: '$OUT'"
kctl rm chatty >/dev/null
pass "logs and logs --tail"

capture kctl run --rm busybox /no/such/program
[[ $RC -eq 127 ]] || fail "missing program: rc=$RC, want 127 ($ERR)"
[[ $ERR == *no/such/program* ]] || fail "error does not name the program: $ERR"
capture kctl run --rm busybox /etc/passwd
[[ $RC -eq 126 ]] || fail "not executable: rc=$RC, want 126 ($ERR)"
pass "127 and 126"
