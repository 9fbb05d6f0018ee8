#!/bin/bash
# Bind mounts added to and removed from a running container (kapselctl mount add|rm|ls): a busybox
# httpd serves a host directory mounted while it runs; read-only holds inside; symlinks planted in
# the container do not lead the mount out of its root; bad requests are refused with nothing left
# behind; a restart of the container (and of kapseld) keeps the mount.
#
# The container has a network namespace of its own with no route from the host, so the HTTP
# requests are made from the host inside that namespace only (nsenter --net; the client is the
# host's busybox wget, the file system it sees is the host's): a real request to the container's
# httpd over its loopback.
source "$(dirname "$0")/lib.sh"
command -v nsenter >/dev/null || { echo "SKIP: needs nsenter (util-linux)"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: needs ip (iproute2)"; exit 77; }
start_daemon
"$FIXTURES/make-busybox-rootfs.sh" "$E2E_TMP/base.tar"
kctl import "$E2E_TMP/base.tar" bb:1 >/dev/null

site=$E2E_TMP/site
mkdir -p "$site"
echo hello-from-host >"$site/new.txt"
site_listing=$(ls -A "$site")

# The container's script: httpd on /www; symlinks for the escape checks; on each start (markers in
# the fresh /dev/shm), once the mounted file shows up, one write attempt into the mount, its
# outcome in the log; a process that keeps its cwd in /busy once /busy/hold appears.
script='
mkdir -p /www /d && echo index >/www/index.html
ln -sfn / /escape-root; ln -sfn .. /escape-up; ln -sfn ../.. /d/up2; ln -sfn /proc /p
httpd -f -p 8080 -h /www &
while true; do
  if [ -e /www/static/new.txt ] && [ ! -e /dev/shm/tried ]; then
    touch /dev/shm/tried
    if echo x 2>/dev/shm/err >/www/static/write-test; then echo "WRITE-OK"; else echo "WRITE-FAILED: $(cat /dev/shm/err)"; fi
  fi
  if [ -e /busy/hold ] && [ ! -e /dev/shm/held ]; then
    touch /dev/shm/held; (cd /busy && exec sleep 100000) & echo HELD
  fi
  sleep 0.1
done'
kctl run -d --name web bb:1 sh -c "$script" >/dev/null

pid_of() { kctl inspect --type container "$1" | jq -r '.[0].status.pid'; }
wait_for() {  # wait_for DESCRIPTION COMMAND...: up to 10s
  local what=$1; shift
  for _ in $(seq 1 100); do "$@" && return 0; sleep 0.1; done
  fail "timed out waiting for $what"
}
# GET through the container's loopback; prints "<body> <status>" (status 0: no answer).
http_get() {
  local pid=$1 path=$2 body
  # (busybox 1.35's wget -T crashes: the time limit comes from timeout instead.)
  if body=$(timeout 5 nsenter --net="/proc/$pid/ns/net" busybox wget -q -O - "http://127.0.0.1:8080$path" 2>/dev/null); then
    echo "$body 200"
  else
    echo "- 404"
  fi
}
# event_seen TYPE PATTERN: a stored event of TYPE matches PATTERN (events streams on: it is
# stopped once the line shows up, or after 20 s).
event_seen() {
  local out=$E2E_TMP/events.$1 evpid
  "$KAPSELCTL" events --since 0 -f "type=$1" >"$out" 2>&1 &
  evpid=$!
  for _ in $(seq 1 200); do grep -q -- "$2" "$out" && break; sleep 0.1; done
  kill "$evpid" 2>/dev/null || true
  wait "$evpid" 2>/dev/null || true
  grep -q -- "$2" "$out"
}
log_has() { grep -q -- "$1" <<<"$("$KAPSELCTL" logs web 2>&1)"; }
net_up() { nsenter --net="/proc/$1/ns/net" ip link set lo up; }

pid=$(pid_of web)
net_up "$pid"
wait_for "httpd" bash -c "[[ \$(nsenter --net=/proc/$pid/ns/net busybox wget -q -O - http://127.0.0.1:8080/index.html 2>/dev/null) == index ]]"
wait_for "the symlinks" test -L "/proc/$pid/root/d/up2"

before=$(http_get "$pid" /static/new.txt)
[[ $before == "- 404" ]] || fail "before mount add: want 404, got $before"
echo "before mount add: GET /static/new.txt -> $before"

capture kctl mount add --ro web "$site" /www/static
[[ $RC -eq 0 ]] || fail "mount add --ro: rc=$RC err=$ERR"
after=$(http_get "$pid" /static/new.txt)
[[ $after == "hello-from-host 200" ]] || fail "after mount add: want the file, got $after"
echo "after mount add:  GET /static/new.txt -> $after"
pass "mount add --ro: the host file is served over HTTP without a restart"

wait_for "the write attempt" log_has WRITE-
log_has "WRITE-FAILED: .*Read-only file system" || fail "write inside: $(kctl logs web | grep WRITE-)"
[[ ! -e $site/write-test ]] || fail "a write reached the host through a read-only mount"
if echo x 2>/dev/null >"/proc/$pid/root/www/static/from-host-root"; then fail "the mount is writable through /proc/PID/root"; fi
pass "writes to the read-only mount fail with EROFS inside the container"

[[ $(kctl mount ls -q web) == /www/static ]] || fail "mount ls: $(kctl mount ls web)"
kctl mount ls web | grep -E "^/www/static +$site +ro" >/dev/null || fail "mount ls table: $(kctl mount ls web)"
[[ $(kctl inspect web | jq -r '.[0].mounts[0].containerPath + " " + .[0].mounts[0].hostPath + " " + (.[0].mounts[0].readOnly|tostring)') == "/www/static $site true" ]] ||
  fail "inspect: $(kctl inspect web | jq '.[0].mounts')"
event_seen mount "destination=/www/static" || fail "no mount event: $(cat "$E2E_TMP/events.mount")"
pass "mount ls, inspect and the mount event show it"

capture kctl mount add web "$site" /www/static
[[ $RC -eq 125 ]] && grep -q "already mounted" <<<"$ERR" || fail "a second mount at the same path: rc=$RC err=$ERR"

capture kctl mount rm web /www/static
[[ $RC -eq 0 && $OUT == /www/static ]] || fail "mount rm: rc=$RC out=$OUT err=$ERR"
gone=$(http_get "$pid" /static/new.txt)
[[ $gone == "- 404" ]] || fail "after mount rm: want 404, got $gone"
echo "after mount rm:   GET /static/new.txt -> $gone"
[[ ! -e /proc/$pid/root/www/static/new.txt ]] || fail "the file is still visible after mount rm"
[[ -z $(kctl mount ls -q web) ]] || fail "mount ls after rm: $(kctl mount ls web)"
event_seen unmount "destination=/www/static" || fail "no unmount event: $(cat "$E2E_TMP/events.unmount")"
pass "mount rm makes the file disappear"

# Symlinks at the target: refused, never followed out of (or onto) the container's root.
for link in /escape-root /escape-up; do
  capture kctl mount add web "$site" "$link"
  [[ $RC -eq 125 ]] && grep -q "symbolic link" <<<"$ERR" || fail "mount add over the symlink $link: rc=$RC err=$ERR"
done
# Symlinks on the way: resolved inside the container's root (.. of / is /).
for via in /escape-up/landed-up /d/up2/landed-up2 /escape-root/landed-root; do
  name=${via##*/}
  capture kctl mount add web "$site" "$via"
  [[ $RC -eq 0 ]] || fail "mount add via a symlink ($via): rc=$RC err=$ERR"
  [[ $(cat "/proc/$pid/root/$name/new.txt") == hello-from-host ]] || fail "$via did not land at /$name inside the container"
  [[ ! -e /$name ]] || fail "$via created /$name on the host"
  kctl mount rm web "$via" >/dev/null
done
[[ $(ls -A "$site") == "$site_listing" ]] || fail "the host directory changed: $(ls -A "$site")"
! grep -qF "$site" /proc/self/mountinfo || fail "the host's mount table has a mount of $site: $(grep -F "$site" /proc/self/mountinfo)"
pass "symlinks to / and .. at or before the target do not lead the mount out of the container"

# Bad requests: a clear error, exit 125, nothing recorded or made.
kctl create --name stopped bb:1 true >/dev/null
mkdir -p "$E2E_TMP/root-before" && ls -A "/proc/$pid/root/" >"$E2E_TMP/root-before/list"
for bad in "stopped|$site|/data|is not running" \
  "web|$E2E_TMP/missing|/data|$E2E_TMP/missing" \
  "web|$site|data|must be absolute" \
  "web|relative|/data|host path must be absolute" \
  "web|$site|/proc/sys/x|cannot mount over /proc/sys/x" \
  "web|$site|/sys/kernel|cannot mount over /sys/kernel" \
  "web|$site|/p/sys/x|resolves into /proc" \
  "web|$site|/a/../b|must not contain"; do
  IFS='|' read -r c host cpath want <<<"$bad"
  capture kctl mount add "$c" "$host" "$cpath"
  [[ $RC -eq 125 ]] || fail "mount add $c $host $cpath: rc=$RC, want 125"
  grep -qF -- "$want" <<<"$ERR" || fail "mount add $c $host $cpath: error does not say \"$want\": $ERR"
done
[[ -z $(kctl mount ls -q web) && -z $(kctl mount ls -q stopped) ]] || fail "a refused mount was recorded"
ls -A "/proc/$pid/root/" | diff - "$E2E_TMP/root-before/list" >/dev/null || fail "a refused mount left something in the container's root"
! grep -qF "$site" /proc/self/mountinfo || fail "a refused mount left a mount of $site on the host"
kctl rm stopped >/dev/null
pass "bad requests (stopped container, missing host path, relative path, /proc, /sys) are refused"

# A busy mount is detached lazily, and says so.
busy=$E2E_TMP/busy
mkdir -p "$busy" && touch "$busy/hold"
kctl mount add web "$busy" /busy >/dev/null
wait_for "the process in /busy" log_has HELD
capture kctl mount rm web /busy
[[ $RC -eq 0 ]] && grep -q "lazily" <<<"$OUT" || fail "mount rm of a busy mount: rc=$RC out=$OUT err=$ERR"
event_seen unmount "destination=/busy, .*lazy=true" || fail "the unmount event does not say lazy: $(cat "$E2E_TMP/events.unmount")"
pass "a busy mount is detached lazily and reported so"

# The mount survives a restart of kapseld, and comes back with a restart of the container.
# --ro --recursive holds on the submounts of the source too, before and after the restart.
tree=$E2E_TMP/tree
mkdir -p "$tree/sub" && mount -t tmpfs -o size=1m tmpfs "$tree/sub"
kctl mount add --ro web "$site" /www/static >/dev/null
kctl mount add --ro --recursive web "$tree" /tree >/dev/null
ro_tree() {  # ro_tree PID: both the top and the submount refuse writes, seen through the container
  ! touch "/proc/$1/root/tree/top" 2>/dev/null && ! touch "/proc/$1/root/tree/sub/x" 2>/dev/null
}
ro_tree "$pid" || fail "mount add --ro --recursive left a part writable"
stop_daemon TERM
start_daemon
[[ $(kctl mount ls -q web | sort | xargs) == "/tree /www/static" ]] || fail "mount ls after a daemon restart: $(kctl mount ls web)"
[[ $(http_get "$pid" /static/new.txt) == "hello-from-host 200" ]] || fail "the mount is gone after a daemon restart"
pass "mount ls stays true across a restart of kapseld"

kctl stop -t 1 web >/dev/null
[[ $(kctl inspect web | jq -r '.[0].mounts[0].containerPath') == /www/static ]] || fail "inspect of the stopped container lost the mount"
kctl start web >/dev/null
pid2=$(pid_of web)
[[ $pid2 != "$pid" && $pid2 -gt 0 ]] || fail "the container did not start again (pid $pid2)"
net_up "$pid2"
wait_for "httpd after the restart" bash -c "[[ \$(nsenter --net=/proc/$pid2/ns/net busybox wget -q -O - http://127.0.0.1:8080/index.html 2>/dev/null) == index ]]"
[[ $(http_get "$pid2" /static/new.txt) == "hello-from-host 200" ]] || fail "the restarted container does not serve the mounted file"
wait_for "the write attempt after the restart" test "$(kctl logs web | grep -c WRITE-)" -ge 2
[[ $(kctl logs web | grep WRITE- | tail -n 1) == *"Read-only file system"* ]] || fail "after the restart the mount is writable: $(kctl logs web | grep WRITE-)"
[[ $(kctl inspect web | jq -r '.[0].mounts | length') -eq 2 ]] || fail "inspect after the restart: $(kctl inspect web | jq '.[0].mounts')"
ro_tree "$pid2" || fail "after the restart a part of the --ro --recursive mount is writable"
touch "$tree/sub/host-side" || fail "the host's own submount became read-only"
kctl mount rm web /www/static >/dev/null
kctl mount rm web /tree >/dev/null
pass "a restart of the container re-applies the mounts (read-only, recursively), and inspect lists them"

kctl rm -f web >/dev/null
[[ $(ls -A "$site") == "$site_listing" ]] || fail "the host directory changed: $(ls -A "$site")"
pass "hot mounts"
