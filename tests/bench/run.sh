#!/bin/bash
# kapsel's start-path benchmark against crun, runc, podman and containerd (issue 9), in one
# command. Not a test: ctest never runs it. Needs root, Debian 12, and a few minutes.
#
# usage: tests/bench/run.sh [--build-dir DIR] [--full] [--quick] [-- bench.py options]
#   --build-dir DIR  build tree to build and take the binaries from (default: build)
#   --no-build       take the binaries as they are
#   --bin DIR        take kapseld, kapselctl, kapsel-shim, lifecycle_bench (and bridge_bench if
#                    there) from DIR (no build)
#   --quick          10 rounds, 20 running containers, 100 containers for ps, 30 bridge_bench
#                    rounds (a smoke run)
#   --full           100 rounds, 100 running containers, 1,000 containers for ps
#   (default: 30 rounds, 100 running containers, 1,000 containers for ps)
#   --only bridge    only bridge_bench (a container's network Prepare + Release through the
#                    daemon's NetworkManager, in a namespace of its own); other arguments go to it,
#                    e.g. --iterations N, --modes none,bridge,network,port, --json FILE
#   bench.py options, e.g. --iterations N, --containers N, --ps-containers N, --out FILE,
#   --compare OLD.json, --label NAME, --no-podman-bridge; `tests/bench/bench.py --help` has all.
#   tests/bench/bench.py compare OLD.json NEW.json compares two results without running.
#
# Installs the peers from Debian when missing (crun runc podman containerd), builds kapseld,
# kapselctl, kapsel-shim, lifecycle_bench and bridge_bench, copies them to a private directory (so
# that other builds cannot swap them mid-run), then runs tests/bench/bench.py, which starts its own
# kapseld and containerd under /tmp and removes everything it made when it ends.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$src/build
do_build=1
bin_dir=
preset=()
only=
while (($#)); do
  case $1 in
    --build-dir) build=$(realpath "$2"); shift 2 ;;
    --no-build) do_build=0; shift ;;
    --bin) bin_dir=$(realpath "$2"); do_build=0; shift 2 ;;
    --quick) preset=(--iterations 10 --containers 20 --ps-containers 100 --throughput-containers 16 --bridge-iterations 30); shift ;;
    --full) preset=(--iterations 100 --containers 100 --ps-containers 1000 --throughput-containers 80); shift ;;
    --only) only=$2; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[[ $(id -u) == 0 ]] || { echo "run.sh: needs root" >&2; exit 1; }
case $only in
  '') ;;
  bridge)
    if ((do_build)); then
      if ! grep -q '^KAPSEL_BUILD_TESTS:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
        cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKAPSEL_BUILD_TESTS=ON >/dev/null
      fi
      cmake --build "$build" -j"$(nproc)" --target bridge_bench >&2
    fi
    exec "${bin_dir:-$build/bin}/bridge_bench" "$@" ;;
  *) echo "run.sh: --only takes bridge" >&2; exit 2 ;;
esac

missing=()
for tool in crun runc podman containerd; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[[ -x /bin/busybox ]] || missing+=(busybox-static)
if ((${#missing[@]})); then
  echo "installing ${missing[*]} from Debian" >&2
  apt-get install -y "${missing[@]}" >/dev/null || { apt-get update >/dev/null && apt-get install -y "${missing[@]}" >/dev/null; }
fi

if ((do_build)); then
  if ! grep -q '^KAPSEL_BUILD_TESTS:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKAPSEL_BUILD_TESTS=ON >/dev/null
  fi
  cmake --build "$build" -j"$(nproc)" --target kapseld kapselctl kapsel-shim lifecycle_bench bridge_bench >&2
fi
if [[ -n $bin_dir ]]; then
  bin=$bin_dir
else
  bin=$(mktemp -d /tmp/kapsel-bench-bin.XXXXXX)
  trap 'rm -rf "$bin"' EXIT
  for b in kapseld kapselctl kapsel-shim lifecycle_bench bridge_bench; do
    cp "$build/bin/$b" "$bin/$b"
  done
fi
/usr/bin/python3 "$here/bench.py" --bin "$bin" "${preset[@]}" "$@"
