#!/bin/bash
# The escape suite (tests/security/escape.cc) in real containers of a real kapseld:
#   default     every attack blocked, except binding port 80 (NET_BIND_SERVICE is a default cap);
#   hardened    --read-only --cap-drop NET_BIND_SERVICE and a volume whose mount point in the
#               image is a symlink pointing out of the rootfs: every attack blocked;
#   remapped    --userns remap:USER (root is an unprivileged host uid): every attack blocked,
#               except binding port 80, whose network namespace the container's root owns;
#   privileged  --privileged: the attacks that privilege is meant to allow succeed, while those
#               that no configuration may allow (host processes, host fds, the old root, the host
#               binary) stay blocked. So the suite is seen to tell the two apart.
# Each attack's line is printed, so the log lists every result by name.
source "$(dirname "$0")/../e2e/lib.sh"
ESCAPE=${KAPSEL_ESCAPE:?KAPSEL_ESCAPE must name the static escape program}
start_daemon

# The image: the busybox fixture, the escape program, and /vol as a symlink that leaves the rootfs
# when resolved on the host (a dozen ..) into $E2E_TMP/target. A copy of that path exists inside
# the image, so a mount resolved inside the rootfs has somewhere to land.
root=$E2E_TMP/escroot
mkdir -p "$root" "$E2E_TMP/target" "$E2E_TMP/volume"
"$FIXTURES/make-busybox-rootfs.sh" "$E2E_TMP/base.tar"
tar -C "$root" -xf "$E2E_TMP/base.tar"
cp "$ESCAPE" "$root/bin/escape"
mkdir -p "$root/$E2E_TMP/target"
ln -s "../../../../../../../../../../../..$E2E_TMP/target" "$root/vol"
tar -C "$root" -cf "$E2E_TMP/escape.tar" .
kctl import "$E2E_TMP/escape.tar" escape:1 >/dev/null
touch "$E2E_TMP/volume/kapsel-volume-marker"
# Exists on the host, not in the rootfs: what the chroot climb would find if the old root were there.
touch "$E2E_TMP/host-marker"

env_args=(-e "KAPSEL_ESCAPE_HOST_PID=$$" -e "KAPSEL_ESCAPE_HOST_PATH=$E2E_TMP/host-marker")

# run_suite LABEL [kapselctl run flags...]: runs the suite, prints its lines, keeps them in RESULT.
run_suite() {
  local label=$1
  shift
  capture kctl run --rm "${env_args[@]}" "$@" escape:1 /bin/escape
  echo "--- $label"
  echo "$OUT"
  [[ -z $ERR ]] || echo "stderr: $ERR"
  grep -q '^escape: [0-9]* of [0-9]* attacks succeeded' <<<"$OUT" ||
    fail "$label: the suite did not finish (rc=$RC): $ERR"
  RESULT=$OUT
}

result_of() {  # result_of ATTACK -> blocked | SUCCEEDED
  local line
  line=$(grep "^escape: $1: " <<<"$RESULT") || fail "no result for $1"
  awk '{print $3}' <<<"$line"
}

expect() {  # expect LABEL ATTACK blocked|SUCCEEDED
  local got
  got=$(result_of "$2")
  [[ $got == "$3" ]] || fail "$1: $2 is $got, want $3: $(grep "^escape: $2: " <<<"$RESULT")"
}

all_attacks() { grep -E '^escape: [a-z0-9-]+: ' <<<"$RESULT" | awk '{print $2}' | tr -d :; }

run_suite default
for a in $(all_attacks); do
  if [[ $a == bind-port-80 ]]; then expect default "$a" SUCCEEDED; else expect default "$a" blocked; fi
done
pass "default container: every attack blocked; port 80 bound with NET_BIND_SERVICE"

run_suite hardened --read-only --cap-drop NET_BIND_SERVICE -v "$E2E_TMP/volume:/vol" \
  -e KAPSEL_ESCAPE_VOLUME=/vol
for a in $(all_attacks); do expect hardened "$a" blocked; done
grep -q '^escape: remount-root-rw: blocked (remount' <<<"$RESULT" ||
  fail "hardened: remount-root-rw was not tried on a read-only root"
grep -q '^escape: volume-symlink: blocked (the volume is mounted at /vol' <<<"$RESULT" ||
  fail "hardened: the volume was not checked"
# Host side: nothing landed in the directory the planted symlink points at.
[[ -z $(ls -A "$E2E_TMP/target") ]] || fail "the volume mount escaped into $E2E_TMP/target"
! grep -q " $E2E_TMP/target " /proc/self/mountinfo || fail "a mount landed on the host's $E2E_TMP/target"
pass "hardened container: every attack blocked, port 80 refused, volume kept inside the rootfs"

# The cgroup-v2 VM's /etc is the host's, read-only, and its /tmp a tmpfs, which Debian's 6.1
# kernel cannot idmap (6.3 can): there the systemd VM test runs a remapped container on ext4.
if [[ ! -w /etc/subuid ]] && { [[ -e /etc/subuid ]] || [[ ! -w /etc ]]; }; then
  echo "--- remapped: not run: /etc/subuid cannot be written here"
else
  add_subid_range "kapsel-esc-$$" $((1000000000 + ($$ % 4096) * 65536))
  run_suite remapped --userns "remap:kapsel-esc-$$"
  for a in $(all_attacks); do
    if [[ $a == bind-port-80 ]]; then expect remapped "$a" SUCCEEDED; else expect remapped "$a" blocked; fi
  done
  pass "remapped container: every attack blocked; port 80 bound in its own network namespace"
fi

run_suite privileged --privileged
# Not load-module, kexec or iopl: a kernel built without modules, kexec or ioperm answers ENOSYS
# to everyone (this host's kernel does).
for a in mount-tmpfs unshare-userns-mount mknod-host-disk reboot swapon settimeofday add-key bpf \
  write-core-pattern perf-event-open bind-port-80; do
  expect privileged "$a" SUCCEEDED
done
for a in ptrace-host-process kill-host-process host-fd chroot-escape proc-exe-host-binary; do
  expect privileged "$a" blocked
done
pass "privileged container: privilege shows; host processes, fds, old root and binary stay out"
