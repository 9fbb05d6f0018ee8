#!/bin/bash
# A program that allocates 10 MB a second under -m 100m is OOM-killed near the limit; an events
# subscriber started before it sees "oom" and then "exit" with oom_killed=true and code 137.
source "$(dirname "$0")/lib.sh"
MEMHOG=${KAPSEL_MEMHOG:?KAPSEL_MEMHOG must name the static memhog helper}
start_daemon

# An image with the helper in it: the busybox fixture plus /bin/memhog.
root=$E2E_TMP/hogroot
mkdir -p "$root"
"$FIXTURES/make-busybox-rootfs.sh" "$E2E_TMP/base.tar"
tar -C "$root" -xf "$E2E_TMP/base.tar"
cp "$MEMHOG" "$root/bin/memhog"
tar -C "$root" -cf "$E2E_TMP/hog.tar" .
kctl import "$E2E_TMP/hog.tar" hog:1 >/dev/null

"$KAPSELCTL" events --format json >"$E2E_TMP/events" 2>&1 &
events_pid=$!
sleep 0.5
capture kctl run --name hog -m 100m --memory-swap 100m hog:1 memhog 10 1000
kill "$events_pid"; wait "$events_pid" 2>/dev/null || true
[[ $RC -eq 137 ]] || fail "memhog under -m 100m: rc=$RC, want 137 (out: $(tail -n 3 <<<"$OUT"))"
last=$(( $(grep -E '^[0-9]+$' <<<"$OUT" | tail -n 1 || echo 0) * 10 ))
[[ $last -ge 50 && $last -le 110 ]] || fail "killed after $last MiB, want near 100: $OUT"
pass "OOM-killed after $last MiB under a 100 MiB limit"

line=$(kctl ps -a --format json | grep '"Names":"hog"')
grep -q '"ExitCode":137' <<<"$line" || fail "ps: $line"
kctl inspect hog | grep -q '"oomKilled": true' || fail "inspect does not say oomKilled: $(kctl inspect hog)"
pass "ps and inspect agree: 137, oom killed"

oom_line=$(grep -n '"oom"' "$E2E_TMP/events" | head -n 1 | cut -d: -f1)
exit_line=$(grep -n '"exit"' "$E2E_TMP/events" | head -n 1 | cut -d: -f1)
[[ -n $oom_line && -n $exit_line ]] || fail "missing oom or exit event: $(cat "$E2E_TMP/events")"
[[ $oom_line -lt $exit_line ]] || fail "oom event after exit: $(cat "$E2E_TMP/events")"
grep '"exit"' "$E2E_TMP/events" | grep -q '"oom_killed":"true"' || fail "exit event without oom_killed=true"
grep '"exit"' "$E2E_TMP/events" | grep -q '"exit_code":"137"' || fail "exit event without code 137"
pass "events: oom, then exit with oom_killed=true and 137"

# A child OOM-killed while the main process survives: oom without exit.
id=$(kctl run -d -m 100m --memory-swap 100m hog:1 sh -c 'memhog 10 100 >/dev/null; sleep 300')
"$KAPSELCTL" events --since 0 --format json >"$E2E_TMP/events2" 2>&1 &
events_pid=$!
for _ in $(seq 1 200); do grep "$id" "$E2E_TMP/events2" | grep -q '"oom"' && break; sleep 0.1; done
kill "$events_pid"; wait "$events_pid" 2>/dev/null || true
grep "$id" "$E2E_TMP/events2" | grep -q '"oom"' || fail "no oom event for the child: $(cat "$E2E_TMP/events2")"
grep "$id" "$E2E_TMP/events2" | grep -q '"exit"' && fail "exit event although the main process lives"
kctl ps | grep -q "${id:0:12}" || fail "the container died with its child"
pass "child OOM: oom event, container keeps running"
