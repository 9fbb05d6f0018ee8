#!/bin/busybox sh
# shellcheck shell=dash
# /init of the initramfs of run-systemd-vm.sh: load the virtio, ext4 and 9p modules, mount the
# Debian image (/dev/vda, ext4) read-write, the kernel's module tree over 9p (tag "modules",
# read-only) on its /usr/lib/modules and the per-run exchange share (tag "kapselrun") on
# /mnt/kapsel-vm, then switch_root to systemd. The mounts move along with the new root.

set -u
export PATH=/bin

die() {
  echo "kapsel-vm init: $*" >/dev/console
  /bin/busybox poweroff -f
  echo o >/proc/sysrq-trigger
  sleep 3600
}

/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t proc proc /proc || die "mount /proc"
/bin/busybox mount -t sysfs sysfs /sys || die "mount /sys"
/bin/busybox mount -t devtmpfs devtmpfs /dev || die "mount /dev"

# modules.list: the insmod order, from modprobe --show-depends on the host.
while read -r ko; do
  [ -n "$ko" ] || continue
  /bin/busybox insmod "/modules/$ko" || die "insmod $ko"
done </modules.list

# The virtio disk shows up asynchronously after virtio_blk is loaded.
i=0
while [ ! -b /dev/vda ]; do
  i=$((i + 1))
  [ $i -lt 100 ] || die "no /dev/vda"
  /bin/busybox sleep 0.1
done
/bin/busybox mount -t ext4 -o rw /dev/vda /newroot || die "mount /dev/vda"

opts=trans=virtio,version=9p2000.L,msize=512000
/bin/busybox mount -t 9p -o "$opts,ro,cache=loose" modules /newroot/usr/lib/modules ||
  die "mount the modules 9p share"
# No cache on the exchange share: what the guest writes there must reach the host at once.
/bin/busybox mount -t 9p -o "$opts" kapselrun /newroot/mnt/kapsel-vm || die "mount the kapselrun 9p share"

for d in proc sys dev; do
  /bin/busybox mount --move "/$d" "/newroot/$d" || die "move /$d"
done
# shellcheck disable=SC2093  # die only runs when switch_root could not exec
exec /bin/busybox switch_root /newroot /sbin/init
die "switch_root failed"
