#!/bin/bash
# kapsel as a systemd service: boots a Debian image with systemd as PID 1 (cgroup v2) under qemu,
# installs the given kapsel .deb there and runs systemd-guest-test.sh (socket activation, restart
# with containers left running, stop, journal, access by group, remove and purge). See README.md.
#
#   tests/vm/run-systemd-vm.sh [--timeout SECS] [--verbose] [--remove] [--prepare] DEB
#
# --remove also checks apt-get remove and purge of the package in the guest (about 80 s more).
# --prepare only fills the cache (kernel, the Debian image, the initramfs); DEB then gives the
# dependencies that the image must hold (it is not installed).
#
# Environment: as run-in-vm.sh (KAPSEL_VM_CACHE, KAPSEL_VM_KERNEL, KAPSEL_VM_MEMORY,
# KAPSEL_VM_CPUS, KAPSEL_VM_TIMEOUT, KAPSEL_VM_VERBOSE, KAPSEL_VM_NO_INSTALL), and
# KAPSEL_VM_MIRROR (Debian mirror for the bootstrap; default: the host's apt source) and
# KAPSEL_VM_SUITE (default: the host's codename).
#
# Exit codes: 0 when every check passed; 1 when some failed (the guest prints FAIL: lines);
# 77 when the VM cannot be had here (not root; no qemu, mmdebstrap or debootstrap, mkfs.ext4; the
# kernel or the Debian mirror unreachable); 124 when the timeout killed the VM; 125 when the guest
# died without reporting.

set -euo pipefail

# One compound command, parsed before it runs: editing the file during a run cannot derail it.
{

readonly SKIP=77
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${KAPSEL_VM_CACHE:-/var/cache/kapsel-vm}
MEMORY=${KAPSEL_VM_MEMORY:-2048}
CPUS=${KAPSEL_VM_CPUS:-2}
TIMEOUT=${KAPSEL_VM_TIMEOUT:-900}
VERBOSE=${KAPSEL_VM_VERBOSE:-0}
PREPARE_ONLY=0
REMOVE=0

say() { echo "run-systemd-vm: $*" >&2; }
skip() { say "SKIP: $*"; exit "$SKIP"; }
die() { say "error: $*"; exit 125; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --timeout) [[ $# -ge 2 ]] || die "--timeout needs seconds"; TIMEOUT=$2; shift 2 ;;
    --verbose) VERBOSE=1; shift ;;
    --prepare) PREPARE_ONLY=1; shift ;;
    --remove) REMOVE=1; shift ;;
    --) shift; break ;;
    -*) die "unknown option $1" ;;
    *) break ;;
  esac
done
[[ $# -eq 1 ]] || die "usage: $0 [--timeout SECS] [--verbose] [--remove] [--prepare] KAPSEL.deb"
DEB=$(realpath -e "$1") || die "no package $1"

[[ $(id -u) -eq 0 ]] || skip "needs root (the bootstrap, 9p passthrough)"
# systemd-image.sh prefers mmdebstrap (faster) and can do with debootstrap.
if ! command -v mmdebstrap >/dev/null && ! command -v debootstrap >/dev/null &&
  [[ ${KAPSEL_VM_NO_INSTALL:-0} != 1 ]] && command -v apt-get >/dev/null; then
  say "installing mmdebstrap (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap >&2 || true
fi
command -v mmdebstrap >/dev/null || command -v debootstrap >/dev/null ||
  skip "needs mmdebstrap or debootstrap"
for tool in mkfs.ext4 dpkg-deb; do
  command -v "$tool" >/dev/null || skip "needs $tool (packages e2fsprogs, dpkg)"
done

# The kernel, its modules and qemu: run-in-vm.sh's cache (it skips with 77 itself).
bash "$HERE/run-in-vm.sh" --prepare >&2 || exit $?
QEMU=$(command -v qemu-system-x86_64) || skip "no qemu-system-x86_64"
KVER=${KAPSEL_VM_KERNEL:-$(<"$CACHE/kernel-version")}
KDIR=$CACHE/kernel-$KVER
VMLINUZ=$KDIR/boot/vmlinuz-$KVER
[[ -f $VMLINUZ ]] || die "no $VMLINUZ in the cache"

# --- the Debian image ---------------------------------------------------------------------------
# The package's dependencies (first of each alternative, without versions) and recommendations
# are installed by the bootstrap, so that `apt-get install ./kapsel.deb` needs no network in the
# guest.
deps() {
  dpkg-deb -f "$DEB" "$1" | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/ //g' |
    grep -v '^$' || true
}
# debootstrap knows no virtual packages (libspdlog1.10-fmt9 is provided by libspdlog1.10): the
# host's apt names the provider. One apt-cache call for the real ones (each call loads apt's cache).
mapfile -t WANTED < <( (deps Depends; deps Recommends) | sort -u)
mapfile -t PACKAGES < <(apt-cache show --no-all-versions "${WANTED[@]}" 2>/dev/null | sed -n 's/^Package: //p' | sort -u)
for p in "${WANTED[@]}"; do
  [[ " ${PACKAGES[*]} " == *" $p "* ]] && continue
  provider=$(apt-cache showpkg "$p" 2>/dev/null | awk '/^Reverse Provides:/ { f = 1; next } f && NF { print $1; exit }')
  [[ -n $provider ]] || die "no package provides $p, a dependency of $DEB"
  PACKAGES+=("$provider")
done
mapfile -t PACKAGES < <(printf '%s\n' "${PACKAGES[@]}" | sort -u)
# shellcheck disable=SC1091  # the host's os-release
SUITE=${KAPSEL_VM_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-}")}
[[ -n $SUITE ]] || skip "cannot tell the Debian suite (set KAPSEL_VM_SUITE)"
MIRROR=${KAPSEL_VM_MIRROR:-}
if [[ -z $MIRROR ]]; then
  # The first Debian source of apt (deb822 .sources or a one-line sources.list entry).
  MIRROR=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^URIs:/ { u = $2 } /^Suites:/ && u != "" && $0 ~ " '"$SUITE"'( |$)" { print u; exit }')
  [[ -n $MIRROR ]] || MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1 == "deb" && $3 == "'"$SUITE"'" { print $2; exit }')
  [[ -n $MIRROR ]] || MIRROR=http://deb.debian.org/debian
fi
ikey=$( (cat "$HERE/systemd-image.sh"; echo "$SUITE ${PACKAGES[*]}") | sha256sum | cut -c1-16)
IMAGE=$CACHE/debian-systemd-$ikey.img

mkdir -p "$CACHE"
exec {lock_fd}>"$CACHE/.lock"
flock "$lock_fd"
if [[ ! -f $IMAGE ]]; then
  say "building $IMAGE ($SUITE, ${#PACKAGES[@]} packages for the .deb)"
  t0=$SECONDS
  if ! bash "$HERE/systemd-image.sh" "$IMAGE" "$SUITE" "$MIRROR" "${PACKAGES[@]}"; then
    skip "cannot build the Debian image (the bootstrap from $MIRROR failed)"
  fi
  say "image built in $((SECONDS - t0))s"
  # Images for other package lists: unused for a day, they go (like run-in-vm.sh's initramfs).
  find "$CACHE" -maxdepth 1 -name 'debian-systemd-*.img' ! -name "${IMAGE##*/}" -mtime +1 -delete
fi
touch "$IMAGE"

# --- the initramfs: virtio disk, ext4 and 9p ----------------------------------------------------
MODULES=(virtio_pci virtio_blk ext4 crc32c_generic 9pnet_virtio 9p)
rkey=$( (cat "$HERE/systemd-initramfs-init.sh" "$HERE/run-systemd-vm.sh" /bin/busybox; echo "${MODULES[*]}") |
  sha256sum | cut -c1-16)
INITRD=$KDIR/initramfs-systemd-$rkey.cpio.gz
if [[ ! -f $INITRD ]]; then
  say "building $INITRD"
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage"/{bin,dev,proc,sys,newroot,modules}
  cp /bin/busybox "$stage/bin/busybox"
  install -m 0755 "$HERE/systemd-initramfs-init.sh" "$stage/init"
  # ext4's soft dependency on crc32c also names crc32c-intel, which needs SSE 4.2: the generic
  # one is enough.
  modprobe -S "$KVER" -d "$KDIR" --show-depends -a "${MODULES[@]}" |
    awk '$1 == "insmod" && $2 !~ /crc32c-intel/ {print $2}' | awk '!seen[$0]++' >"$stage/order" ||
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
  find "$KDIR" -maxdepth 1 -name 'initramfs-systemd-*.cpio.gz' ! -name "${INITRD##*/}" -mtime +1 -delete
fi
touch "$INITRD"
flock -u "$lock_fd"

if [[ $PREPARE_ONLY -eq 1 ]]; then
  say "cache ready: $IMAGE, $INITRD"
  exit 0
fi

# --- one run ------------------------------------------------------------------------------------
RUN=$(mktemp -d /tmp/kapsel-systemd-vm.XXXXXX)
QEMU_PID=
TAIL_PID=
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  local rc=$?
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

install -m 0755 "$HERE/systemd-guest-test.sh" "$RUN/guest-test.sh"
cp "$DEB" "$RUN/${DEB##*/}"
ln -s "${DEB##*/}" "$RUN/kapsel.deb"
# The same package as the next version, for the upgrade step: apt then runs the maintainer
# scripts' upgrade paths (prerm upgrade, postinst configure OLD-VERSION) over a running kapseld.
dpkg-deb -R "$DEB" "$RUN/upgrade"
sed -i 's/^Version: .*/&+upgrade1/' "$RUN/upgrade/DEBIAN/control"
dpkg-deb -b -Zgzip "$RUN/upgrade" "$RUN/kapsel-upgrade.deb" >/dev/null
rm -rf "$RUN/upgrade"
if [[ $REMOVE -eq 1 ]]; then : >"$RUN/remove"; fi

# The image is never written: snapshot=on keeps the guest's writes in a temporary overlay.
# The module tree is shared read-only; the exchange directory read-write.
append="console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init systemd.unified_cgroup_hierarchy=1"
append+=" systemd.show_status=error"
say "booting linux $KVER with systemd (tcg, ${CPUS} cpus, ${MEMORY} MiB), timeout ${TIMEOUT}s"
start=$SECONDS
"$QEMU" -accel tcg -machine q35 -cpu max -smp "$CPUS" -m "$MEMORY" \
  -nographic -nodefaults -no-reboot -monitor none -nic none \
  -kernel "$VMLINUZ" -initrd "$INITRD" -append "$append" \
  -drive "file=$IMAGE,if=virtio,format=raw,snapshot=on" \
  -virtfs "local,path=$KDIR/lib/modules,mount_tag=modules,security_model=none,readonly=on" \
  -virtfs "local,path=$RUN,mount_tag=kapselrun,security_model=passthrough" \
  -serial "file:$RUN/console.log" -serial stdio \
  </dev/null &
QEMU_PID=$!

if [[ $VERBOSE == 1 ]]; then
  tail -n +1 -F "$RUN/console.log" >&2 2>/dev/null &
  TAIL_PID=$!
fi

timed_out=0
while kill -0 "$QEMU_PID" 2>/dev/null; do
  if ((SECONDS - start >= TIMEOUT)); then
    say "timeout after ${TIMEOUT}s: killing qemu (pid $QEMU_PID)"
    kill -KILL "$QEMU_PID" 2>/dev/null || true
    timed_out=1
    break
  fi
  # The guest powers off after writing rc; a shutdown that hangs costs at most a minute.
  if [[ -f $RUN/rc ]] && [[ -z ${rc_seen:-} ]]; then rc_seen=$SECONDS; fi
  if [[ -n ${rc_seen:-} ]] && ((SECONDS - rc_seen > 60)); then
    say "the guest did not power off within 60s of reporting: killing qemu"
    kill -KILL "$QEMU_PID" 2>/dev/null || true
    break
  fi
  sleep 1
done
qemu_rc=0
{ wait "$QEMU_PID"; } 2>/dev/null || qemu_rc=$?
QEMU_PID=

if [[ -f $RUN/rc ]]; then
  rc=$(<"$RUN/rc")
  say "guest checks done after $((SECONDS - start))s in the VM: $rc failed"
  if [[ $rc != 0 ]]; then
    say "end of the guest console:"
    tail -n 40 "$RUN/console.log" >&2 || true
    exit 1
  fi
  exit 0
fi
say "the VM ended without a result (qemu exit status $qemu_rc); end of the guest console:"
tail -n 60 "$RUN/console.log" >&2 || true
if [[ $timed_out -eq 1 ]]; then exit 124; fi
exit 125
}
