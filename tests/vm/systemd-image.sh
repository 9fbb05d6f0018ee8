#!/bin/bash
# Builds the disk image of run-systemd-vm.sh: a Debian with systemd as PID 1 (a minbase bootstrap
# plus systemd-sysv, udev, kmod and the given packages), set up to boot in the test VM and to start
# /mnt/kapsel-vm/guest-test.sh once the system is up, as an ext4 image (mkfs.ext4 -d, no loop
# device or mount needed).
#
# mmdebstrap when it is installed, else debootstrap: the same minbase system, but mmdebstrap
# resolves and downloads with apt (in parallel, virtual packages included) and unpacks with one
# dpkg run without fsync; it needs about half of debootstrap's CPU time (42 s against 76 s here),
# which is most of the cost of a cold cache on two shared cores.
#
#   systemd-image.sh OUTPUT.img SUITE MIRROR [PACKAGE...]
#
# Run as root. run-systemd-vm.sh caches the result; this script's own contents are part of the
# cache key, so an edit here builds a new image.

set -euo pipefail
out=$1 suite=$2 mirror=$3
shift 3
packages=(systemd-sysv udev kmod procps "$@")

dir=$(mktemp -d /var/tmp/kapsel-vm-root.XXXXXX)
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  # debootstrap mounts proc and sys in the target while it works; a failure can leave them.
  awk -v d="$dir" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" || true; done
  rm -rf --one-file-system "$dir" "$out.tmp"
}
trap cleanup EXIT

includes=$(IFS=,; echo "${packages[*]}")
if command -v mmdebstrap >/dev/null; then
  echo "systemd-image: mmdebstrap $suite from $mirror with $includes" >&2
  # The target must not exist or be empty: mmdebstrap refuses a non-empty one.
  mmdebstrap --mode=root --variant=minbase --include="$includes" \
    --dpkgopt=force-unsafe-io --aptopt='Acquire::Languages "none"' \
    "$suite" "$dir" "$mirror" >&2
else
  echo "systemd-image: debootstrap $suite from $mirror with $includes" >&2
  debootstrap --variant=minbase --include="$includes" "$suite" "$dir" "$mirror" >&2
fi

echo kapsel-vm >"$dir/etc/hostname"
# An initialised machine id: no first-boot set-up (systemd-firstboot would ask on the console).
systemd-machine-id-setup --root="$dir" >&2
ln -sf /dev/null "$dir/etc/systemd/system/systemd-firstboot.service"
# Timers that would run apt, fstrim or e2scrub in the middle of a test.
for unit in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
  e2scrub_reap.service fstrim.timer; do
  ln -sf /dev/null "$dir/etc/systemd/system/$unit"
done
# / is mounted read-write by the initramfs, and no fsck (a fresh image per run, from the cache).
printf '/dev/vda / ext4 rw,errors=remount-ro 0 0\n' >"$dir/etc/fstab"
# Mount points of the initramfs's 9p shares: the kernel's modules and the exchange directory.
mkdir -p "$dir/usr/lib/modules" "$dir/mnt/kapsel-vm"

# The test: started after multi-user.target, as a Type=exec service, so that its own start does
# not keep `systemctl is-system-running` from reaching "running" (it waits for that).
cat >"$dir/etc/systemd/system/kapsel-vm-test.service" <<'EOF'
[Unit]
Description=kapsel VM test (tests/vm/run-systemd-vm.sh)
After=multi-user.target
ConditionPathExists=/mnt/kapsel-vm/guest-test.sh

[Service]
Type=exec
ExecStart=/bin/bash /mnt/kapsel-vm/guest-test.sh
StandardInput=null
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$dir/etc/systemd/system/multi-user.target.wants"
ln -sf ../kapsel-vm-test.service "$dir/etc/systemd/system/multi-user.target.wants/kapsel-vm-test.service"

# Smaller image: no package lists or archives are needed (the test installs a local .deb whose
# dependencies are all installed here).
rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb

# Sparse: 3 GiB for the containers' layers and state, about 400 MB used.
mkfs.ext4 -q -F -L kapsel-vm -d "$dir" "$out.tmp" 3G >&2
mv "$out.tmp" "$out"
