#!/bin/bash
# From a fresh Debian 12 machine to a first container: installs the dependencies, builds,
# installs, starts kapseld (with systemd when it is PID 1, else in the background) and runs
# busybox.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh
bash deploy/install.sh
socket=/run/kapsel/kapsel.sock
if ! /usr/local/bin/kapselctl --socket "$socket" version >/dev/null 2>&1; then
  if [[ -d /run/systemd/system ]]; then
    systemctl enable --now kapseld.service
  else
    mkdir -p /var/log
    nohup /usr/local/bin/kapseld >>/var/log/kapseld.log 2>&1 &
    echo "kapseld started (pid $!), log in /var/log/kapseld.log"
  fi
  for _ in $(seq 1 100); do
    /usr/local/bin/kapselctl --socket "$socket" version >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
/usr/local/bin/kapselctl run --rm busybox echo hello from kapsel
