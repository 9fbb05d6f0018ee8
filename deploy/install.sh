#!/bin/bash
# Installs a built tree (deploy/build.sh) under PREFIX (default /usr/local): kapseld and kapselctl
# in PREFIX/bin, kapsel-shim in PREFIX/libexec/kapsel, the systemd unit, and the kapsel group.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${PREFIX:-/usr/local}
cmake --install build --prefix "$prefix"
getent group kapsel >/dev/null || groupadd --system kapsel
if [[ -d /etc/systemd/system ]]; then
  sed "s|/usr/local/bin/kapseld|$prefix/bin/kapseld|" systemd/kapseld.service > /etc/systemd/system/kapseld.service
  if [[ -d /run/systemd/system ]]; then systemctl daemon-reload; fi
fi
echo "installed kapsel under $prefix"
