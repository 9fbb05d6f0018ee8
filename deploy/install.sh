#!/bin/bash
# Installs a built tree (deploy/build.sh) under PREFIX (default /usr/local): kapseld and kapselctl
# in PREFIX/bin, kapsel-shim in PREFIX/libexec/kapsel, the systemd units kapseld.service,
# kapseld.socket and kapsel-shutdown.service in PREFIX/lib/systemd/system, the tmpfiles.d and sysusers.d snippets in
# PREFIX/lib, the bash completion and the man pages in PREFIX/share, and /etc/kapsel/kapseld.json
# (an existing one is kept). Then creates the kapsel group and the state directories, and, when
# systemd runs, enables and starts kapseld.socket (kapseld starts on the first client).
# deploy/uninstall.sh undoes it. BUILD_DIR: the build tree (default build).
# The Debian package (cd build && cpack -G DEB) does the same under /usr.
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then echo "install.sh: run as root" >&2; exit 1; fi
cd "$(dirname "$0")/.."
prefix=${PREFIX:-/usr/local}
build=${BUILD_DIR:-build}
cmake --install "$build" --prefix "$prefix"

if ! getent group kapsel >/dev/null && command -v systemd-sysusers >/dev/null; then
  systemd-sysusers "$prefix/lib/sysusers.d/kapsel.conf" || true
fi
getent group kapsel >/dev/null || groupadd --system kapsel
if command -v systemd-tmpfiles >/dev/null; then
  systemd-tmpfiles --create "$prefix/lib/tmpfiles.d/kapsel.conf" || true
else
  install -d -m 0711 /var/lib/kapsel /run/kapsel
fi

# Older versions of this script wrote a Type=simple unit into /etc/systemd/system, which would hide
# the new one.
old=/etc/systemd/system/kapseld.service
if [[ -f $old ]] && grep -q '^Documentation=file:///usr/local/share/doc/kapsel/README.md' "$old"; then
  rm -f "$old"
fi
if [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
  systemctl enable --now kapseld.socket
  # Stops the containers at shutdown (systemd/kapsel-shutdown.service); starting it does nothing.
  systemctl enable --now kapsel-shutdown.service
  # A running daemon moves to the new binary; containers keep running.
  systemctl try-restart kapseld.service
fi
echo "installed kapsel under $prefix"
