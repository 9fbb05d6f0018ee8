#!/bin/bash
# -v HOST:CONTAINER[:ro]: the container reads and writes the host directory, :ro refuses writes,
# and bad volumes are refused with the reason and exit 125, leaving no container behind.
source "$(dirname "$0")/lib.sh"
start_daemon
"$FIXTURES/make-busybox-rootfs.sh" "$E2E_TMP/base.tar"
kctl import "$E2E_TMP/base.tar" bb:1 >/dev/null

vol=$E2E_TMP/vol
mkdir -p "$vol"
echo from-host >"$vol/in"
capture kctl run --rm -v "$vol:/data" bb:1 sh -c 'cat /data/in; echo from-container >/data/out'
[[ $RC -eq 0 && $OUT == from-host ]] || fail "rw volume: rc=$RC out=$OUT err=$ERR"
[[ $(cat "$vol/out") == from-container ]] || fail "the container's write did not reach the host"
pass "a volume is read and written through"

capture kctl run --rm -v "$vol:/data:ro" bb:1 sh -c 'cat /data/in; echo x >/data/out2'
[[ $RC -ne 0 && $OUT == from-host ]] || fail "ro volume: rc=$RC out=$OUT err=$ERR"
grep -qi "read-only" <<<"$ERR" || fail "ro volume: want a read-only error, got: $ERR"
[[ ! -e $vol/out2 ]] || fail "a write went through a read-only volume"
pass "a read-only volume refuses writes"

for bad in "relative:/data|named volumes are not supported" \
  "$E2E_TMP/missing:/data|$E2E_TMP/missing" \
  "$vol:/proc/sys|cannot mount over /proc/sys" \
  "$vol:/a/../b|must not contain"; do
  arg=${bad%%|*}
  want=${bad#*|}
  capture kctl run --rm -v "$arg" bb:1 true
  [[ $RC -eq 125 ]] || fail "-v $arg: rc=$RC, want 125"
  grep -qF -- "$want" <<<"$ERR" || fail "-v $arg: error does not say \"$want\": $ERR"
done
[[ $(count_containers) -eq 0 ]] || fail "a refused volume left a container: $(kctl ps -a)"
[[ -z $(ls -A "$E2E_TMP/data/containers" 2>/dev/null) ]] || fail "a refused volume left a container directory"
pass "bad volumes: exit 125 with the reason, nothing left behind"
