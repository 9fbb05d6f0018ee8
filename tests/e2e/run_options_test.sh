#!/bin/bash
# run --ulimit, --tmpfs and --init on the real daemon, and the image's Volumes: the limits the container's shell sees, a
# tmpfs with Docker's defaults (noexec) and given options on a read-only rootfs, and tini as PID 1
# (SIGTERM reaches the command, orphans are reaped), each against the same run without the flag.
# Bad values are refused at create with the reason, and leave no container behind.
source "$(dirname "$0")/lib.sh"
[[ -x /usr/bin/tini-static ]] || { echo "SKIP: needs /usr/bin/tini-static (tini)"; exit 77; }
start_daemon --default-ulimit nofile=1000:2000

# --- --ulimit: replaces the daemon's default of the same name, keeps the others.
capture kctl run --rm --ulimit nofile=100:200 busybox sh -c 'ulimit -n; ulimit -Hn'
[[ $RC -eq 0 && $OUT == $'100\n200' ]] || fail "--ulimit nofile: rc=$RC out=$OUT err=$ERR"
capture kctl run --rm --ulimit nproc=50 --ulimit core=-1 busybox sh -c 'ulimit -n; ulimit -u; ulimit -c'
[[ $RC -eq 0 && $OUT == $'1000\n50\nunlimited' ]] || fail "--ulimit nproc/core: rc=$RC out=$OUT err=$ERR"
pass "--ulimit sets the container's rlimits over the daemon's defaults"

# --- --tmpfs: Docker's defaults (rw, nosuid, nodev, noexec), options given, on a read-only root.
capture kctl run --rm --read-only --tmpfs /scratch --tmpfs /fast:size=8m,mode=1777,exec busybox sh -c '
  echo data > /scratch/f && cat /scratch/f
  grep -E " /(scratch|fast) " /proc/mounts | cut -d" " -f2-4 | sort
  touch /not-writable 2>/dev/null && echo rootfs-writable
  cp /bin/busybox /scratch/true && { /scratch/true 2>/dev/null && echo scratch-exec || echo scratch-noexec; }
  cp /bin/busybox /fast/true && /fast/true && echo fast-exec
  stat -c %a /fast'
want=$'data\n/fast tmpfs rw,relatime,size=8192k\n/scratch tmpfs rw,nosuid,nodev,noexec,relatime\nscratch-noexec\nfast-exec\n1777'
# The kernel prints nosuid/nodev for /fast too: they are kapsel's defaults, exec was given.
want=${want/\/fast tmpfs rw,relatime,size=8192k/\/fast tmpfs rw,nosuid,nodev,relatime,size=8192k}
[[ $RC -eq 0 && $OUT == "$want" ]] || fail "--tmpfs: rc=$RC out=[$OUT] want=[$want] err=$ERR"
pass "--tmpfs mounts tmpfs with Docker's defaults and the given options on a read-only root"

# --- --init: tini is PID 1 and runs the command; the command gets SIGTERM and dies of it (143).
capture kctl run --rm --init busybox sh -c 'tr "\0" " " </proc/1/cmdline; echo; readlink /proc/1/exe'
[[ $RC -eq 0 && $OUT == $'/dev/init -- sh -c '*$'\n/dev/init' ]] || fail "--init PID 1: rc=$RC out=$OUT err=$ERR"
id=$(kctl run -d --init busybox sleep 1000)
kctl stop -t 30 "$id" >/dev/null
[[ $(kctl wait "$id") == 143 ]] || fail "--init stop: not 143: $(kctl wait "$id")"
# Without --init, sleep as PID 1 ignores SIGTERM and is killed when the timeout ends (137).
plain=$(kctl run -d busybox sleep 1000)
kctl stop -t 1 "$plain" >/dev/null
[[ $(kctl wait "$plain") == 137 ]] || fail "plain stop: not 137: $(kctl wait "$plain")"
pass "--init forwards SIGTERM to the command (143), PID 1 sleep without it needs SIGKILL (137)"

# Orphans: a background child of a subshell that exits is reparented to PID 1. tini reaps it;
# sleep as PID 1 leaves a zombie.
zombies() { kctl exec "$1" sh -c 'cat /proc/[0-9]*/stat 2>/dev/null' | grep -c ') Z ' || true; }
orphans() { kctl exec "$1" sh -c 'cat /proc/[0-9]*/stat 2>/dev/null' | grep -c '(sleep) [SRZ] ' || true; }
reaped=$(kctl run -d --init busybox sh -c '(sleep 0.3 &); exec sleep 1000')
unreaped=$(kctl run -d busybox sh -c '(sleep 0.3 &); exec sleep 1000')
for _ in $(seq 1 100); do [[ $(zombies "$unreaped") -ge 1 ]] && break; sleep 0.1; done
[[ $(zombies "$unreaped") -ge 1 ]] || fail "no zombie without --init (the test cannot tell)"
for _ in $(seq 1 100); do [[ $(orphans "$reaped") -eq 1 ]] && break; sleep 0.1; done
[[ $(orphans "$reaped") -eq 1 && $(zombies "$reaped") -eq 0 ]] || fail "--init left a zombie or the orphan"
pass "--init reaps orphans (a zombie stays without it)"
kctl rm -f "$id" "$plain" "$reaped" "$unreaped" >/dev/null

# --- The /etc files are written without fsync at create; a start after a power loss that took
# them writes them again.
id=$(kctl create --hostname lost busybox sh -c 'cat /etc/hostname; grep -c localhost /etc/hosts')
rm "$E2E_TMP/data/containers/$id/hosts"
: >"$E2E_TMP/data/containers/$id/hostname"
capture kctl start -a "$id"
[[ $RC -eq 0 && $OUT == $'lost\n'[1-9]* ]] || fail "lost /etc files not rewritten: rc=$RC out=$OUT err=$ERR"
kctl rm "$id" >/dev/null
pass "/etc/hostname and /etc/hosts lost after create are written again at start"

# --- The image's Volumes: anonymous volumes, filled with the image's content, written outside
# the rootfs, gone with the container.
mkdir -p "$E2E_TMP/vol/root"
"$FIXTURES/make-busybox-rootfs.sh" "$E2E_TMP/vol/base.tar.gz"
tar -C "$E2E_TMP/vol/root" -xzf "$E2E_TMP/vol/base.tar.gz"
mkdir -p "$E2E_TMP/vol/root/data"
echo seed >"$E2E_TMP/vol/root/data/seed"
tar -C "$E2E_TMP/vol/root" --numeric-owner -czf "$E2E_TMP/vol/img.tar.gz" .
kctl import "$E2E_TMP/vol/img.tar.gz" vol:1 --change 'VOLUME ["/data", "/cache"]' --change 'CMD ["sh"]' >/dev/null
id=$(kctl run -d vol:1 sh -c 'cat /data/seed; echo made >/data/new; grep -E " /(data|cache) " /proc/mounts | cut -d" " -f2 | sort; sleep 1000')
for _ in $(seq 1 100); do [[ $(kctl logs "$id") == *$'\n/data'* ]] && break; sleep 0.05; done
capture kctl logs "$id"
[[ $OUT == $'seed\n/cache\n/data' ]] || fail "anonymous volumes: logs '$OUT'"
# Sorted: /cache is volumes/0, /data volumes/1.
[[ $(cat "$E2E_TMP/data/containers/$id/volumes/1/new") == made ]] || fail "the write did not land in the volume"
[[ ! -e $E2E_TMP/data/containers/$id/upper/data/new ]] || fail "the write landed in the rootfs' upper layer"
# -v over an image volume takes its place.
capture kctl run --rm -v "$E2E_TMP/vol:/data:ro" vol:1 sh -c 'ls /data | head -1'
[[ $RC -eq 0 && $OUT == base.tar.gz ]] || fail "-v over an image volume: rc=$RC out=$OUT err=$ERR"
kctl rm -f "$id" >/dev/null
[[ ! -e $E2E_TMP/data/containers/$id ]] || fail "the container's volumes outlived it"
pass "the image's Volumes are anonymous volumes filled from the image, -v takes their place"

# --- Bad input: refused at create with the reason; no container, no directory, no mount left.
before=$(count_containers)
check_refused() {  # check_refused WANT ARGS...: run ARGS fails with WANT in stderr
  local want=$1; shift
  capture kctl run --rm "$@" busybox true
  [[ $RC -ne 0 && $ERR == *"$want"* ]] || fail "run $*: rc=$RC err=$ERR (want $want)"
}
check_refused 'unknown ulimit "nofiles"' --ulimit nofiles=10
check_refused 'soft limit 10 is above the hard limit 5' --ulimit nofile=10:5
check_refused 'invalid --ulimit "nofile=x"' --ulimit nofile=x
check_refused "is above the daemon's own hard limit" --ulimit nofile=1:$(( $(ulimit -Hn) + 1 ))
check_refused 'invalid --tmpfs "scratch"' --tmpfs scratch
check_refused 'tmpfs /scratch: unknown option "bogus"' --tmpfs /scratch:bogus
check_refused 'tmpfs /scratch: bad value in "size=lots"' --tmpfs /scratch:size=lots
check_refused 'tmpfs /data: /data is mounted twice' -v "$E2E_TMP:/data" --tmpfs /data
[[ $(count_containers) -eq $before ]] || fail "a refused run left a container"
[[ -z $(ls -A "$E2E_TMP/data/containers") ]] || fail "a refused run left a directory: $(ls "$E2E_TMP/data/containers")"
! grep -q "$E2E_TMP/data/containers" /proc/mounts || fail "a refused run left a mount"
pass "bad --ulimit and --tmpfs values are refused with the reason, nothing left"

# A daemon whose init binary is missing refuses --init at create.
stop_daemon
start_daemon --init-path "$E2E_TMP/no-such-init"
check_refused "--init: $E2E_TMP/no-such-init: No such file or directory" --init
[[ -z $(ls -A "$E2E_TMP/data/containers") ]] || fail "a refused --init left a directory"
pass "--init with a missing init binary is a clear error"
