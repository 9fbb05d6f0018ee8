#!/bin/bash
# Bad input gets a clear error and changes nothing.
source "$(dirname "$0")/lib.sh"
start_daemon

snapshot() {
  echo "containers=$(kctl ps -aq | wc -l) images=$(kctl images -q | wc -l)"
  ls "$E2E_TMP/data/containers" "$E2E_TMP/data/layers" 2>/dev/null | sort
  awk '{print $2}' /proc/mounts | grep -c "$E2E_TMP" || true
}
before=$(snapshot)

capture kctl run --rm nosuchimage:1 true
[[ $RC -eq 125 && $ERR == *"no such image"* ]] || fail "unknown image: rc=$RC $ERR"
pass "unknown image"

kctl run --name taken busybox true
before_taken=$(snapshot)
capture kctl run --name taken busybox true
[[ $RC -eq 125 && $ERR == *"already in use"* ]] || fail "name in use: rc=$RC $ERR"
[[ $(snapshot) == "$before_taken" ]] || fail "a refused name changed state"
kctl rm taken >/dev/null
pass "name already in use"

"$FIXTURES/make-busybox-rootfs.sh" "$E2E_TMP/nocmd.tar"
kctl import "$E2E_TMP/nocmd.tar" nocmd:1 >/dev/null
before=$(snapshot)
capture kctl run nocmd:1
[[ $RC -eq 125 && $ERR == *"no command specified"* ]] || fail "empty command: rc=$RC $ERR"
[[ $(snapshot) == "$before" ]] || fail "a refused run changed state"
pass "empty command with no image default"

capture kctl import /nonexistent/rootfs.tar x:1
[[ $RC -eq 125 && $ERR == */nonexistent/rootfs.tar* ]] || fail "missing tarball: rc=$RC $ERR"
touch "$E2E_TMP/unreadable.tar"; chmod 000 "$E2E_TMP/unreadable.tar"
head -c 4096 /dev/urandom > "$E2E_TMP/garbage.tar"
capture kctl import "$E2E_TMP/garbage.tar" garbage:1
[[ $RC -eq 125 ]] || fail "garbage tarball accepted: rc=$RC"
[[ -n $ERR ]] || fail "garbage tarball: no error message"
[[ $(snapshot) == "$before" ]] || fail "a refused import changed state: $(snapshot)"
pass "unreadable and non-tar tarballs"

capture kctl import "$E2E_TMP/nocmd.tar" 'Bad Name!'
[[ $RC -eq 125 ]] || fail "bad reference accepted"
pass "bad image reference"

capture kctl run --name 'bad name' busybox true
[[ $RC -eq 125 && $ERR == *name* ]] || fail "bad container name: rc=$RC $ERR"
capture kctl run -m 1k busybox true
[[ $RC -eq 125 ]] || fail "1k memory limit accepted"
[[ $(snapshot) == "$before" ]] || fail "refused runs changed state"
pass "bad name and memory limit"
