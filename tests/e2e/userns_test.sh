#!/bin/bash
# User-namespace remapping: kapseld --userns-remap and kapselctl run --userns.
#   - the container's root is an unprivileged host uid of the subordinate range; the image layers
#     on disk stay root's (idmapped mounts), what the container writes belongs to the range;
#   - its root administers its own network (binds port 80) and nothing of the host's;
#   - exec, kill -9 of kapseld, and a "reboot" (the namespaces and rootfs mount gone) keep it;
#   - --userns host opts out; bad values and the options a user namespace excludes are refused
#     and leave nothing behind.
source "$(dirname "$0")/lib.sh"

user=kapsel-e2e-$$
start=$((1000000000 + ($$ % 4096) * 65536))
other=kapsel-e2e-o$$
ostart=$((start + 65536 * 8192))
add_subid_range "$user" "$start"
add_subid_range "$other" "$ostart"
start_daemon --userns-remap "$user"

# host_uid PID: the real uid of a host process.
host_uid() { awk '/^Uid:/ {print $2}' "/proc/$1/status"; }
pid_of() { kctl ps --format json | grep "$1" | sed 's/.*"Pid":\([0-9]*\).*/\1/'; }

out=$(kctl run --rm busybox sh -c 'id -u; cat /proc/self/uid_map /proc/self/gid_map')
read -r -a lines <<<"$(tr '\n' ' ' <<<"$out")"
[[ ${lines[0]} == 0 ]] || fail "root inside is not uid 0: $out"
[[ "${lines[*]:1:3}" == "0 $start 65536" ]] || fail "uid_map is not 0 $start 65536: $out"
[[ "${lines[*]:4:3}" == "0 $start 65536" ]] || fail "gid_map is not 0 $start 65536: $out"
kctl info | grep -qx "User Namespace Remap: $user" || fail "info does not show the remap: $(kctl info)"
pass "kapseld --userns-remap: root inside maps to $start (uid_map and gid_map); info shows it"

id=$(kctl run -d --name remapped busybox sleep 300)
pid=$(pid_of "$id")
[[ $(host_uid "$pid") == "$start" ]] || fail "the container's process runs as host uid $(host_uid "$pid"), not $start"
[[ -S $E2E_TMP/run/userns/$id ]] || [[ -e $E2E_TMP/run/userns/$id ]] || fail "no user namespace kept at run/userns/$id"
[[ $(readlink "/proc/$pid/ns/user") == $(readlink /proc/self/ns/user) ]] && fail "the container is in the host's user namespace"
# The network namespace belongs to the container's user namespace: its root binds port 80 and
# serves on it.
out=$(kctl exec remapped sh -c 'echo served > /tmp/index.html; httpd -p 80 -h /tmp && wget -q -O- http://127.0.0.1/index.html')
[[ $out == served ]] || fail "the remapped root could not serve on port 80: $out"
pass "the process runs as host uid $start; its root binds port 80 in its own network namespace"

# Writes land in the upper layer with the range's ids; the shared image layer keeps root's.
kctl exec remapped sh -c 'echo hi > /written && mkdir /made && chown 1000:1000 /made && echo more >> /bin/busybox.note' ||
  fail "the remapped root could not write its rootfs"
upper=$E2E_TMP/data/containers/$id/upper
[[ $(stat -c %u:%g "$upper/written") == "$start:$start" ]] || fail "upper/written is $(stat -c %u:%g "$upper/written")"
[[ $(stat -c %u "$upper/made") == $((start + 1000)) ]] || fail "upper/made is $(stat -c %u "$upper/made"), want $((start + 1000))"
layer_owners=$(find "$E2E_TMP/data/layers" -path '*/bin/busybox' -printf '%u:%g\n' | sort -u)
[[ $layer_owners == root:root ]] || fail "the image layer's /bin/busybox is owned by $layer_owners on disk"
[[ $(kctl exec remapped stat -c %u:%g /bin/busybox) == 0:0 ]] || fail "/bin/busybox is not root's inside"
pass "writes stored as $start..; the shared layer stays root's on disk and root's inside"

# A host directory owned by the host's root: nobody's inside, and not writable by the container's root.
mkdir -p "$E2E_TMP/hostdir"
chmod 755 "$E2E_TMP/hostdir"
capture kctl run --rm -v "$E2E_TMP/hostdir:/h" busybox sh -c 'stat -c %u /h; touch /h/x'
[[ $RC -ne 0 && $OUT == 65534 ]] || fail "host root's directory: rc=$RC out=$OUT err=$ERR"
[[ ! -e $E2E_TMP/hostdir/x ]] || fail "the remapped root wrote into host root's directory"
pass "the host's root-owned files are nobody's inside and cannot be written"

# A host directory added to the running remapped container (its mount namespace belongs to the
# container's user namespace).
echo from-host >"$E2E_TMP/hostdir/f"
capture kctl mount add --ro remapped "$E2E_TMP/hostdir" /added/h
[[ $RC -eq 0 ]] || fail "mount add into the remapped container: $ERR"
[[ $(kctl exec remapped cat /added/h/f) == from-host ]] || fail "the added mount does not show the host file"
kctl mount rm remapped /added/h >/dev/null || fail "mount rm from the remapped container"
pass "mount add and rm on a running remapped container"

# kill -9 of kapseld: the container and its namespace stay; exec still works.
stop_daemon KILL
start_daemon --userns-remap "$user"
[[ $(kctl exec remapped cat /written) == hi ]] || fail "exec after kill -9 of kapseld failed"
pass "kill -9 of kapseld: re-adopted, exec works"

# A user namespace left by a create that crashed in its clean-up goes at the next start.
touch "$E2E_TMP/run/userns/$(printf 'f%.0s' {1..64})"
mount --bind "/proc/$pid/ns/user" "$E2E_TMP/run/userns/$(printf 'f%.0s' {1..64})"
stop_daemon TERM
start_daemon --userns-remap "$user"
[[ $(ls "$E2E_TMP/run/userns") == "$id" ]] || fail "the leftover user namespace stayed: $(ls "$E2E_TMP/run/userns")"
pass "a leftover user namespace is removed when kapseld starts"

# A "reboot": stopped, then its user and network namespaces and its rootfs mount gone, as with /run.
kctl stop -t 1 remapped >/dev/null
stop_daemon TERM
umount "$E2E_TMP/run/userns/$id" && rm -f "$E2E_TMP/run/userns/$id"
umount "$E2E_TMP/run/netns/$id" && rm -f "$E2E_TMP/run/netns/$id"
umount "$E2E_TMP/data/containers/$id/rootfs"
start_daemon --userns-remap "$user"
kctl start remapped >/dev/null
pid=$(pid_of "$id")
[[ $(host_uid "$pid") == "$start" ]] || fail "after the reboot the process runs as host uid $(host_uid "$pid")"
[[ $(kctl exec remapped cat /written) == hi ]] || fail "the rootfs lost /written"
[[ $(kctl exec remapped stat -c %u /bin/busybox) == 0 ]] || fail "the layer is not idmapped after the reboot"
pass "after a reboot the namespace, the idmapped rootfs and the network are made again"

# Per container: --userns host opts out; remap:OTHER takes another range.
out=$(kctl run --rm --userns host busybox cat /proc/self/uid_map | tr -s ' ')
[[ $out == " 0 0 4294967295" || $out == "0 0 4294967295" ]] || fail "--userns host: uid_map $out"
out=$(kctl run --rm --userns "remap:$other" busybox cat /proc/self/uid_map | tr -s ' ')
[[ $out == *"0 $ostart 65536"* ]] || fail "--userns remap:$other: uid_map $out"
pass "--userns host runs without one; --userns remap:$other maps to $ostart"

# Refused before anything is made.
before=$(count_containers)
for args in "--userns bogus" "--userns remap:nosuch-$$" "--privileged" "--network host" \
  "--userns remap:$other --privileged"; do
  # shellcheck disable=SC2086
  capture kctl run --rm $args busybox true
  [[ $RC -ne 0 ]] || fail "run $args was accepted"
  case $args in
    *bogus*) grep -q 'expected host, remap or remap:USER' <<<"$ERR" || fail "$args: $ERR" ;;
    *nosuch*) grep -q '/etc/subuid has no range for nosuch' <<<"$ERR" || fail "$args: $ERR" ;;
    *) grep -q 'cannot run in a remapped user namespace' <<<"$ERR" || fail "$args: $ERR" ;;
  esac
done
# A data root the remapped root cannot reach (a parent without search for others).
chmod 700 "$E2E_TMP"
capture kctl run --rm busybox true
chmod 711 "$E2E_TMP"
[[ $RC -ne 0 && $ERR == *"cannot search $E2E_TMP (mode 0700)"* ]] || fail "unreachable data root: rc=$RC err=$ERR"
[[ $(count_containers) == "$before" ]] || fail "a refused run left a container"
[[ $(ls "$E2E_TMP/run/userns") == "$id" ]] || fail "a refused run left a user namespace: $(ls "$E2E_TMP/run/userns")"
pass "bad --userns values, --privileged/--network host with remapping and an unreachable data root refused; nothing left"

kctl rm -f remapped >/dev/null
[[ -z $(ls "$E2E_TMP/run/userns") ]] || fail "rm left the user namespace"
! grep -q "$id" /proc/self/mountinfo || fail "rm left a mount of $id"
pass "rm takes the user namespace and the idmapped mounts away"
