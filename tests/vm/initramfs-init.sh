#!/bin/busybox sh
# shellcheck shell=dash
# /init of the kapsel test VM's initramfs (stage 1). Its only job is to reach the host's root file
# system: load the virtio and 9p modules (they are modules in Debian's kernel), mount the host's /
# read-only from the 9p share "hostroot", put fresh tmpfs on the directories that must be
# writable, mount the per-run exchange share "kapselrun" and switch_root into the host tree, where
# stage 2 (guest-init.sh, copied into the exchange share by run-in-vm.sh) does the rest.
#
# Why switch_root and not chroot: the container runtime calls pivot_root in new mount namespaces,
# which fails with EINVAL while the caller's root is the initramfs (rootfs cannot be unmounted).
# switch_root moves the new root onto / and chroots, so / is then a real mount.

set -u
export PATH=/bin

die() {
  echo "kapsel-vm init: $*" >/dev/console
  # The host sees no exit code and prints the end of this console log.
  /bin/busybox poweroff -f
  echo o >/proc/sysrq-trigger
  sleep 3600
}

/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t proc proc /proc || die "mount /proc"
/bin/busybox mount -t sysfs sysfs /sys || die "mount /sys"
/bin/busybox mount -t devtmpfs devtmpfs /dev || die "mount /dev"

# modules.list holds the insmod order, computed on the host with modprobe --show-depends.
while read -r ko; do
  [ -n "$ko" ] || continue
  /bin/busybox insmod "/modules/$ko" || die "insmod $ko"
done </modules.list

# msize: 9p's largest message size for virtio; the default (8 KiB) makes every read a round trip.
# cache=loose on the read-only root: the guest can cache host files for the life of the VM.
opts=trans=virtio,version=9p2000.L,msize=512000
/bin/busybox mount -t 9p -o "$opts,ro,cache=loose" hostroot /newroot || die "mount the hostroot 9p share"
# Not nodev on /tmp and /var/tmp: the tests build container rootfs there, with device nodes in them
# (on a nodev mount, opening one fails with EACCES before the device cgroup is even asked).
for d in tmp var/tmp; do
  /bin/busybox mount -t tmpfs -o mode=1777 tmpfs "/newroot/$d" || die "tmpfs on /$d"
done
/bin/busybox mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /newroot/run || die "tmpfs on /run"
/bin/busybox mkdir -p /newroot/run/kapsel-vm
# No cache on the exchange share: the exit code written there must reach the host at once.
/bin/busybox mount -t 9p -o "$opts" kapselrun /newroot/run/kapsel-vm || die "mount the kapselrun 9p share"
[ -x /newroot/run/kapsel-vm/guest-init.sh ] || die "no guest-init.sh in the exchange share"

# kapsel.root=initramfs (run-in-vm.sh --initramfs-root): stay on the initramfs, so that / is the
# rootfs and pivot_root(2) fails with EINVAL, as on a system that runs from its initramfs. The
# host's directories are bound one by one onto the rootfs, at their own paths, and stage 2 runs
# from there: the same tools and build tree, but a root without a parent mount.
if /bin/busybox grep -q 'kapsel.root=initramfs' /proc/cmdline; then
  for d in usr etc var opt srv root home work; do
    [ -d "/newroot/$d" ] && [ ! -L "/newroot/$d" ] || continue
    /bin/busybox mkdir -p "/$d"
    /bin/busybox mount --bind "/newroot/$d" "/$d" || die "bind /$d"
  done
  # Debian's merged /usr: /lib, /lib64 and /sbin are links into it; /bin stays busybox's, with
  # bash added for stage 2.
  for l in lib lib64 sbin; do
    [ -L "/newroot/$l" ] && /bin/busybox ln -s "$(/bin/busybox readlink "/newroot/$l")" "/$l"
  done
  /bin/busybox ln -s /usr/bin/bash /bin/bash
  /bin/busybox mkdir -p /tmp /var/tmp /run
  for d in /tmp /var/tmp; do
    /bin/busybox mount -t tmpfs -o mode=1777 tmpfs "$d" || die "tmpfs on $d"
  done
  /bin/busybox mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run || die "tmpfs on /run"
  /bin/busybox mkdir -p /run/kapsel-vm
  # A 9p tag mounts once: the exchange share moves over from where it was mounted above.
  /bin/busybox mount --move /newroot/run/kapsel-vm /run/kapsel-vm || die "move the kapselrun share"
  exec /run/kapsel-vm/guest-init.sh
  die "cannot run stage 2 from the initramfs"
fi

for d in proc sys dev; do
  /bin/busybox mount --move "/$d" "/newroot/$d" || die "move /$d"
done
# shellcheck disable=SC2093  # die only runs when switch_root could not exec
exec /bin/busybox switch_root /newroot /run/kapsel-vm/guest-init.sh
die "switch_root failed"
