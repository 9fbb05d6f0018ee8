#!/bin/bash
# Runs a command as root inside a qemu VM booted from Debian's kernel on a cgroup-v2-only system,
# with the host's / shared read-only, and exits with the command's exit code. See README.md.
#
#   tests/vm/run-in-vm.sh [options] [--] COMMAND [ARG...]
#
# Options:
#   --rw DIR        also share host DIR read-write (mounted at the same path in the guest);
#                   repeatable. Everything else of the host is read-only in the guest, except the
#                   guest's own tmpfs on /tmp, /var/tmp and /run.
#   --timeout SECS  kill the VM after SECS seconds (default $KAPSEL_VM_TIMEOUT or 1800); exit 124.
#   --verbose       also stream the guest's kernel console to stderr.
#   --prepare       only fill the cache (kernel, modules, initramfs), do not boot.
#   --initramfs-root  run the command with the initramfs as / (the host's directories bound onto
#                   it), where pivot_root(2) fails with EINVAL; default: switch_root to the host's /.
#
# Environment: KAPSEL_VM_CACHE (cache dir, default /var/cache/kapsel-vm), KAPSEL_VM_KERNEL (a
# kernel package version such as 6.1.0-57-amd64; default: what linux-image-amd64 depends on),
# KAPSEL_VM_MEMORY (MiB, default 2048), KAPSEL_VM_CPUS (default 2), KAPSEL_VM_TIMEOUT,
# KAPSEL_VM_VERBOSE=1. Variables named KAPSEL_* (other than KAPSEL_VM_*) and GTEST_* are passed
# to the command in the guest.
#
# Exit codes: the command's; 77 when the VM cannot be had here (not root, no qemu, no kernel
# package); 124 when the timeout killed the VM; 125 when the VM died without reporting one.

set -euo pipefail

# The whole script is one compound command, which bash parses before it runs any of it: editing
# this file while a VM runs (for up to half an hour) cannot derail the run.
{

readonly SKIP=77
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${KAPSEL_VM_CACHE:-/var/cache/kapsel-vm}
MEMORY=${KAPSEL_VM_MEMORY:-2048}
CPUS=${KAPSEL_VM_CPUS:-2}
TIMEOUT=${KAPSEL_VM_TIMEOUT:-1800}
VERBOSE=${KAPSEL_VM_VERBOSE:-0}
PREPARE_ONLY=0
INITRAMFS_ROOT=0
RW_DIRS=()

say() { echo "run-in-vm: $*" >&2; }
skip() { say "SKIP: $*"; exit "$SKIP"; }
die() { say "error: $*"; exit 125; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --rw) [[ $# -ge 2 ]] || die "--rw needs a directory"; RW_DIRS+=("$(realpath -e "$2")"); shift 2 ;;
    --timeout) [[ $# -ge 2 ]] || die "--timeout needs seconds"; TIMEOUT=$2; shift 2 ;;
    --verbose) VERBOSE=1; shift ;;
    --prepare) PREPARE_ONLY=1; shift ;;
    --initramfs-root) INITRAMFS_ROOT=1; shift ;;
    --) shift; break ;;
    -*) die "unknown option $1" ;;
    *) break ;;
  esac
done
[[ $PREPARE_ONLY -eq 1 || $# -gt 0 ]] || die "usage: $0 [--rw DIR]... [--timeout SECS] [--verbose] [--] COMMAND [ARG...]"

# Root: qemu's 9p "passthrough" model must create files with the guest's owners, and the guest
# (root) must be able to read all of the host's tree, as the tests do on the host.
[[ $(id -u) -eq 0 ]] || skip "needs root (9p passthrough of the host's /)"
[[ -x /bin/busybox ]] || skip "needs /bin/busybox (busybox-static) for the initramfs"

# --- qemu -------------------------------------------------------------------------------------
# Installed from Debian's own repository when missing; KAPSEL_VM_NO_INSTALL=1 forbids that.
QEMU=$(command -v qemu-system-x86_64 || true)
if [[ -z $QEMU && ${KAPSEL_VM_NO_INSTALL:-0} != 1 ]] && command -v apt-get >/dev/null; then
  say "installing qemu-system-x86 (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-system-x86 >&2 || true
  QEMU=$(command -v qemu-system-x86_64 || true)
fi
[[ -n $QEMU ]] || skip "qemu-system-x86_64 is not installed and could not be installed (apt-get install qemu-system-x86)"
for tool in cpio depmod modprobe; do
  command -v "$tool" >/dev/null || skip "needs $tool (packages cpio, kmod) to build the initramfs"
done

# --- cache: kernel, modules, initramfs -----------------------------------------------------------
mkdir -p "$CACHE" || skip "cannot create the cache dir $CACHE"
# One preparer at a time (parallel CI jobs share the cache); readers only need the finished files.
exec {lock_fd}>"$CACHE/.lock"
flock "$lock_fd"

KVER=${KAPSEL_VM_KERNEL:-}
if [[ -z $KVER && -f $CACHE/kernel-version ]]; then KVER=$(<"$CACHE/kernel-version"); fi
if [[ -z $KVER ]]; then
  # linux-image-amd64 is the meta package; its dependency names the current ABI's image package.
  KVER=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: linux-image-\(.*\)$/\1/p' | head -n 1)
  [[ -n $KVER ]] || skip "cannot resolve linux-image-amd64 (apt-cache depends); set KAPSEL_VM_KERNEL"
fi
KDIR=$CACHE/kernel-$KVER
VMLINUZ=$KDIR/boot/vmlinuz-$KVER

if [[ ! -f $KDIR/.complete ]]; then
  say "downloading and unpacking linux-image-$KVER into $KDIR"
  rm -rf "$KDIR" "$KDIR.tmp"
  mkdir -p "$KDIR.tmp/deb"
  # apt fetches as the _apt user when it can write there (no "unsandboxed as root" warning).
  chown _apt "$KDIR.tmp/deb" 2>/dev/null || true
  # apt-get download writes into the current directory; it is not installed on the host (that
  # would run the initramfs and bootloader hooks), only unpacked.
  if ! (cd "$KDIR.tmp/deb" && apt-get download -q "linux-image-$KVER" >&2); then
    rm -rf "$KDIR.tmp"
    skip "cannot download linux-image-$KVER (apt-get download)"
  fi
  dpkg-deb -x "$KDIR.tmp"/deb/*.deb "$KDIR.tmp" || die "dpkg-deb -x failed"
  rm -rf "$KDIR.tmp/deb" "$KDIR.tmp/usr/share/doc"
  # The package's postinst would run depmod; the guest's modprobe needs modules.dep.
  depmod -b "$KDIR.tmp" "$KVER" || die "depmod failed"
  [[ -f $KDIR.tmp/boot/vmlinuz-$KVER ]] || die "no vmlinuz-$KVER in the package"
  touch "$KDIR.tmp/.complete"
  mv "$KDIR.tmp" "$KDIR"
  echo "$KVER" >"$CACHE/kernel-version"
fi

# The initramfs is named after a hash of what goes into it and of this script (which builds it), so
# a change of either, or of busybox, builds a new one (about a second).
MODULES=(virtio_pci 9pnet_virtio 9p)
ikey=$( (cat "$HERE/initramfs-init.sh" "$HERE/run-in-vm.sh" /bin/busybox; echo "${MODULES[*]}") | sha256sum | cut -c1-16)
INITRD=$KDIR/initramfs-$ikey.cpio.gz
if [[ ! -f $INITRD ]]; then
  say "building $INITRD"
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage"/{bin,dev,proc,sys,newroot,modules}
  cp /bin/busybox "$stage/bin/busybox"
  install -m 0755 "$HERE/initramfs-init.sh" "$stage/init"
  # The modules and their dependencies in load order (virtio_ring, virtio, ... 9pnet, netfs,
  # fscache, 9p), as modprobe of the guest's tree would load them; built-in ones are skipped.
  modprobe -S "$KVER" -d "$KDIR" --show-depends -a "${MODULES[@]}" |
    awk '$1 == "insmod" {print $2}' | awk '!seen[$0]++' >"$stage/order" ||
    die "modprobe --show-depends ${MODULES[*]} failed"
  while read -r ko; do
    cp "$ko" "$stage/modules/"
    echo "${ko##*/}" >>"$stage/modules.list"
  done <"$stage/order"
  rm "$stage/order"
  touch "$stage/modules.list"
  (cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$stage"
  trap - EXIT
  # Older builds of this kernel's initramfs: another checkout sharing the cache may still use one,
  # so only those unused for a day go.
  find "$KDIR" -maxdepth 1 -name 'initramfs-*.cpio.gz' ! -name "${INITRD##*/}" -mtime +1 -delete
fi
touch "$INITRD"  # in use: see the clean-up of old builds above
flock -u "$lock_fd"

if [[ $PREPARE_ONLY -eq 1 ]]; then
  say "cache ready: $VMLINUZ, $INITRD"
  exit 0
fi

# --- one run -------------------------------------------------------------------------------------
RUN=$(mktemp -d /tmp/kapsel-vm.XXXXXX)
QEMU_PID=
TAIL_PID=
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  local rc=$?
  # Only our own processes, by pid.
  if [[ -n $QEMU_PID ]] && kill -0 "$QEMU_PID" 2>/dev/null; then
    kill -KILL "$QEMU_PID" 2>/dev/null || true
    wait "$QEMU_PID" 2>/dev/null || true
  fi
  if [[ -n $TAIL_PID ]]; then kill "$TAIL_PID" 2>/dev/null || true; wait "$TAIL_PID" 2>/dev/null || true; fi
  rm -rf "$RUN"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

install -m 0755 "$HERE/guest-init.sh" "$RUN/guest-init.sh"
{
  printf 'KAPSEL_VM_KROOT=%q\n' "$KDIR"
  printf 'KAPSEL_VM_CWD=%q\n' "$PWD"
} >"$RUN/vm.env"

# The command, with the forwarded environment, as a script for the guest's bash.
{
  echo 'set -e'
  while IFS= read -r name; do
    [[ $name == KAPSEL_VM_* ]] && continue
    printf 'export %s=%q\n' "$name" "${!name}"
  done < <(compgen -e | grep -E '^(KAPSEL_|GTEST_)' || true)
  printf 'export PATH=%q\n' "$PATH"
  printf 'exec'
  printf ' %q' "$@"
  printf '\n'
} >"$RUN/cmd.sh"

virtfs=(-virtfs "local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap"
        -virtfs "local,path=$RUN,mount_tag=kapselrun,security_model=passthrough")
: >"$RUN/rw.list"
i=0
for dir in "${RW_DIRS[@]}"; do
  virtfs+=(-virtfs "local,path=$dir,mount_tag=rw$i,security_model=passthrough,multidevs=remap")
  echo "rw$i $dir" >>"$RUN/rw.list"
  i=$((i + 1))
done

# cgroup_no_v1=all: no v1 controller can be bound, so the guest is a pure cgroup v2 system;
# systemd.unified_cgroup_hierarchy=1 says the same to anything that asks systemd's way.
# panic=-1 with -no-reboot: a guest panic (PID 1 dying) ends qemu at once.
append="console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1"
[[ $INITRAMFS_ROOT -eq 0 ]] || append+=" kapsel.root=initramfs"

# /dev/kvm on these machines is a PVM device that Debian's kernel cannot use: TCG.
# ttyS0 = kernel console, into a file; ttyS1 = the command's output, to our stdout.
# -nic none: the guest has no network to the outside.
say "booting linux $KVER (tcg, ${CPUS} cpus, ${MEMORY} MiB), timeout ${TIMEOUT}s"
start=$SECONDS
"$QEMU" -accel tcg -machine q35 -cpu max -smp "$CPUS" -m "$MEMORY" \
  -nographic -nodefaults -no-reboot -monitor none -nic none \
  -kernel "$VMLINUZ" -initrd "$INITRD" -append "$append" \
  "${virtfs[@]}" \
  -serial "file:$RUN/console.log" -serial stdio \
  </dev/null &
QEMU_PID=$!

if [[ $VERBOSE == 1 ]]; then
  tail -n +1 -F "$RUN/console.log" >&2 2>/dev/null &
  TAIL_PID=$!
fi

# The watchdog: qemu ends by itself when the guest powers off or panics.
timed_out=0
while kill -0 "$QEMU_PID" 2>/dev/null; do
  if ((SECONDS - start >= TIMEOUT)); then
    say "timeout after ${TIMEOUT}s: killing qemu (pid $QEMU_PID)"
    kill -KILL "$QEMU_PID" 2>/dev/null || true
    timed_out=1
    break
  fi
  sleep 1
done
qemu_rc=0
# (The braces keep bash's "Killed" job notice off stderr.)
{ wait "$QEMU_PID"; } 2>/dev/null || qemu_rc=$?
QEMU_PID=

if [[ -f $RUN/rc ]]; then
  rc=$(<"$RUN/rc")
  if [[ -f $RUN/setup-failed ]]; then
    say "the guest's set-up failed; end of the guest console:"
    tail -n 40 "$RUN/console.log" >&2 || true
  fi
  say "command exited with $rc after $((SECONDS - start))s in the VM"
  exit "$rc"
fi
say "the VM ended without an exit code (qemu exit status $qemu_rc); end of the guest console:"
tail -n 40 "$RUN/console.log" >&2 || true
if [[ $timed_out -eq 1 ]]; then exit 124; fi
exit 125
}
