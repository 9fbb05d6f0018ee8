#!/bin/bash
# Benchmark (not a test): unpack throughput of kapsel's layer extractor against tar -x of the same
# layer. Makes a layer of about KAPSEL_BENCH_MB megabytes (default 500) of mixed content: a few
# large files (incompressible), thousands of small files in a deep tree, symlinks and hard links;
# then unpacks it RUNS times (default 3) with each and prints the median MB/s and the ratio.
# Both run warm (the layer is read once first), as root (owners and modes kept), into the same
# filesystem, and neither fsyncs. With KAPSEL_BENCH_GZIP=1 the layer is also measured gzipped.
#
# usage: tests/bench/unpack_bench.sh BUILD_DIR [WORK_DIR]
#   BUILD_DIR holds bin/unpack_bench (cmake --build BUILD_DIR --target unpack_bench)
#   WORK_DIR  where the layer and the trees go (default: a new dir under /var/tmp); needs about
#             3x KAPSEL_BENCH_MB free
set -euo pipefail
build=${1:?usage: unpack_bench.sh BUILD_DIR [WORK_DIR]}
bench=$build/bin/unpack_bench
[[ -x $bench ]] || { echo "no $bench: cmake --build $build --target unpack_bench" >&2; exit 1; }
mb=${KAPSEL_BENCH_MB:-500}
runs=${KAPSEL_BENCH_RUNS:-3}
work=${2:-$(mktemp -d /var/tmp/kapsel-unpack-bench.XXXXXX)}
mkdir -p "$work"
cleanup() { rm -rf "$work/src" "$work/out" "$work/layer.tar" "$work/layer.tar.gz"; rmdir "$work" 2>/dev/null || true; }
trap cleanup EXIT

echo "making a ~${mb} MB layer in $work"
/usr/bin/python3 - "$work/src" "$mb" <<'PY'
import os, random, sys
root, mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
total = mb << 20
big = total * 2 // 5                # 40%: a few large incompressible files
for i in range(8):
    d = os.path.join(root, "usr/lib/big")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"blob{i}.bin"), "wb") as f:
        left = big // 8
        while left > 0:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n
written = big
i = 0
text = b"".join(b"line %d of some configuration or source text\n" % k for k in range(2000))
while written < total:                 # 60%: small files, 512 B to 64 KiB, in a deep tree
    d = os.path.join(root, "usr/share", f"pkg{i // 200}", f"sub{(i // 20) % 10}")
    if i % 20 == 0:
        os.makedirs(d, exist_ok=True)
    size = int(rng.lognormvariate(8.5, 1.2))
    size = max(512, min(size, 64 << 10))
    path = os.path.join(d, f"file{i}.txt" if i % 3 else f"file{i}.bin")
    with open(path, "wb") as f:
        if i % 3:
            f.write((text * (size // len(text) + 1))[:size])
        else:
            f.write(os.urandom(size))
    if i % 50 == 0:
        os.symlink(f"file{i}.txt" if i % 3 else f"file{i}.bin", os.path.join(d, f"link{i}"))
    if i % 97 == 0:
        os.link(path, os.path.join(d, f"hard{i}"))
    written += size
    i += 1
print(f"{i} small files")
PY
tar -C "$work/src" --numeric-owner -cf "$work/layer.tar" .
rm -rf "$work/src"
layers=("$work/layer.tar")
if [[ ${KAPSEL_BENCH_GZIP:-0} == 1 ]]; then
  gzip -1 -c "$work/layer.tar" >"$work/layer.tar.gz"
  layers+=("$work/layer.tar.gz")
fi

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rate() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.1f", b / 1048576 / t }'; }
for layer in "${layers[@]}"; do
  bytes=$(stat -c %s "$layer")
  tar_bytes=$(stat -c %s "$work/layer.tar")  # throughput counts the uncompressed tar stream
  cat "$layer" >/dev/null
  flags=-xf
  [[ $layer == *.gz ]] && flags=-xzf
  tar_times=() kapsel_times=()
  for _ in $(seq 1 "$runs"); do
    rm -rf "$work/out"; mkdir "$work/out"; sync
    start=$(date +%s.%N)
    tar -C "$work/out" --numeric-owner $flags "$layer"
    end=$(date +%s.%N)
    tar_times+=("$(awk -v a="$end" -v b="$start" 'BEGIN { printf "%.3f", a - b }')")
    rm -rf "$work/out"; mkdir "$work/out"; sync
    kapsel_times+=("$("$bench" "$layer" "$work/out")")
  done
  rm -rf "$work/out"
  t_tar=$(printf '%s\n' "${tar_times[@]}" | median)
  t_kap=$(printf '%s\n' "${kapsel_times[@]}" | median)
  echo "layer $(basename "$layer"): $((bytes >> 20)) MB on disk, $((tar_bytes >> 20)) MB of tar stream, $runs runs each"
  echo "  tar -x     median ${t_tar}s  $(rate "$tar_bytes" "$t_tar") MB/s   (runs: ${tar_times[*]})"
  echo "  kapsel     median ${t_kap}s  $(rate "$tar_bytes" "$t_kap") MB/s   (runs: ${kapsel_times[*]})"
  echo "  kapsel/tar throughput ratio: $(awk -v a="$t_tar" -v b="$t_kap" 'BEGIN { printf "%.2f", a / b }')"
done
