#!/bin/bash
# Undoes deploy/install.sh: stops and disables kapseld.socket and kapseld.service, removes the
# files it installed under PREFIX (default /usr/local), the kapsel group, and
# /etc/kapsel/kapseld.json when it is still the default. Running containers are left alone (stop
# and remove them first: kapselctl rm -f ...).
#
#   deploy/uninstall.sh [--purge]
#
# --purge: also the configuration whatever it holds, and the state: /var/lib/kapsel (images,
# containers, the database) and /run/kapsel, unless something is still mounted there.
# For the Debian package, use apt remove kapsel (apt purge kapsel) instead.
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then echo "uninstall.sh: run as root" >&2; exit 1; fi
cd "$(dirname "$0")/.."
purge=0
case ${1:-} in
  --purge) purge=1 ;;
  "") ;;
  *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac
prefix=${PREFIX:-/usr/local}

if dpkg-query -S "$prefix/bin/kapseld" >/dev/null 2>&1; then
  echo "uninstall.sh: $prefix/bin/kapseld belongs to the kapsel package: apt remove kapsel" >&2
  exit 1
fi

if [[ -d /run/systemd/system ]]; then
  systemctl disable --now kapseld.socket kapseld.service 2>/dev/null || true
  # Disabled, not stopped: stopping it would stop every container.
  systemctl disable kapsel-shutdown.service 2>/dev/null || true
fi

files=(
  bin/kapseld bin/kapselctl libexec/kapsel/kapsel-shim
  lib/systemd/system/kapseld.service lib/systemd/system/kapseld.socket
  lib/systemd/system/kapsel-shutdown.service
  lib/tmpfiles.d/kapsel.conf lib/sysusers.d/kapsel.conf
  share/bash-completion/completions/kapselctl
  share/man/man1/kapselctl.1.gz share/man/man8/kapseld.8.gz
)
for f in "${files[@]}"; do rm -f "$prefix/$f"; done
rmdir "$prefix/libexec/kapsel" 2>/dev/null || true
[[ -d /run/systemd/system ]] && systemctl daemon-reload

config=/etc/kapsel/kapseld.json
if [[ $purge -eq 1 ]] || { [[ -f $config ]] && cmp -s "$config" deploy/kapseld.json; }; then
  rm -f "$config"
fi
rmdir /etc/kapsel 2>/dev/null || true
if getent group kapsel >/dev/null; then
  groupdel kapsel || echo "uninstall.sh: could not remove the group kapsel" >&2
fi

if [[ $purge -eq 1 ]]; then
  # Field 5 of mountinfo is the mount point: a running container's rootfs or network namespace.
  if awk '$5 ~ "^/(var/lib|run)/kapsel(/|$)" { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    echo "uninstall.sh: /var/lib/kapsel or /run/kapsel still has mounts (running containers?): kept" >&2
  else
    rm -rf --one-file-system /var/lib/kapsel /run/kapsel
  fi
fi
echo "removed kapsel from $prefix"
