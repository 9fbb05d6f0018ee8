#!/bin/bash
# Installs everything kapsel needs to build, test and run, from Debian 12's own repositories.
# Idempotent: apt-get skips what is installed already.
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then echo "install-deps.sh: run as root" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential cmake ninja-build pkg-config git
  protobuf-compiler protobuf-compiler-grpc libgrpc++-dev libprotobuf-dev libabsl-dev
  libspdlog-dev libfmt-dev libseccomp-dev libcap-dev libsqlite3-dev libssl-dev
  libgtest-dev libgmock-dev googletest
  libarchive-dev nlohmann-json3-dev libcli11-dev libcurl4-openssl-dev
  libnftables-dev libnl-route-3-dev libsystemd-dev
  busybox-static tini kmod tar gzip iproute2 nftables python3 curl
  containernetworking-plugins
  qemu-system-x86 cpio
  mmdebstrap debootstrap e2fsprogs dpkg-dev help2man
  skopeo
  docker-registry python3-jwt python3-cryptography openssl
  clang libclang-rt-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
# The pull e2e test starts docker-registry itself, on a free loopback port. Where the package's
# init script started the system registry (on :5000), stop it: nothing of kapsel uses it.
if [[ -x /etc/init.d/docker-registry ]] && /etc/init.d/docker-registry status >/dev/null 2>&1; then
  /etc/init.d/docker-registry stop || true
fi
