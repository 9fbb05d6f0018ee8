#!/bin/bash
# PID 1 of the kapsel test VM after switch_root (stage 2). / is the host's root, read-only over 9p;
# /tmp, /var/tmp and /run are tmpfs; /run/kapsel-vm is the per-run exchange directory shared with
# run-in-vm.sh. This script makes the system a cgroup-v2-only machine, runs the command from
# run-in-vm.sh with its output on the second serial port (the host's stdout), writes the exit code
# into the exchange directory and powers off.
#
# Not set -e: PID 1 must always reach the power-off, whatever fails, or the host waits for its
# timeout. Failures are reported on the console and as exit code 125.

set -u
X=/run/kapsel-vm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { echo "kapsel-vm: $*" >/dev/console; }

finish() {
  echo "$1" >"$X/rc.tmp" && mv "$X/rc.tmp" "$X/rc"
  sync
  /bin/busybox poweroff -f
  echo o >/proc/sysrq-trigger
  sleep 3600
}

setup() {
  # shellcheck source=/dev/null
  source "$X/vm.env" || { log "cannot read $X/vm.env"; return 1; }

  mkdir -p /dev/pts /dev/shm
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts || return 1
  mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm || return 1
  mkdir -p /dev/mqueue && mount -t mqueue mqueue /dev/mqueue
  # Only the unified hierarchy: the kernel was booted with cgroup_no_v1=all, so no v1 controller
  # can be mounted anyway; the options are those systemd uses on a unified system.
  mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup ||
    { log "mount cgroup2"; return 1; }
  # The host's /lib/modules (if it has one at all) is for the host's kernel. The guest's own tree,
  # depmod'ed in the cache, is used through a modprobe wrapper that the kernel runs for on-demand
  # loading (overlay, veth, ...): this needs no mount point in the read-only host tree.
  printf '#!/bin/sh\nexec /sbin/modprobe -d %q "$@"\n' "$KAPSEL_VM_KROOT" >/run/modprobe
  chmod 0755 /run/modprobe
  echo /run/modprobe >/proc/sys/kernel/modprobe || { log "set kernel.modprobe"; return 1; }
  /run/modprobe -a overlay || log "modprobe overlay failed"
  hostname kapsel-vm
  ip link set lo up 2>/dev/null || busybox ip link set lo up 2>/dev/null || true

  # Host directories shared read-write, each mounted over its read-only view at the same path.
  local tag dir
  while read -r tag dir; do
    [[ -n $tag ]] || continue
    # A dir under the guest's own tmpfs (/tmp, /var/tmp, /run) has no mount point yet.
    [[ -d $dir ]] || mkdir -p "$dir" || { log "mkdir $dir"; return 1; }
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 "$tag" "$dir" || { log "mount $dir"; return 1; }
  done <"$X/rw.list"

  # Raw: no \n -> \r\n translation on the way to the host's stdout.
  stty -F /dev/ttyS1 raw -echo 2>/dev/null
  return 0
}

if ! setup; then
  log "guest setup failed"
  : >"$X/setup-failed"
  finish 125
fi

cd "$KAPSEL_VM_CWD" 2>/dev/null || cd /
# cmd.sh exports the forwarded environment and execs the command (written with printf %q).
# setsid: the command gets its own session and process group, like a command in a CI job.
# Through cat: the command's stdout is a pipe, as under CI, not a tty (no colours, no job control).
setsid -w bash "$X/cmd.sh" </dev/null 2>&1 | cat >/dev/ttyS1
rc=${PIPESTATUS[0]}
finish "$rc"
