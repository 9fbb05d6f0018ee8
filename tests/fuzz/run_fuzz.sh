#!/bin/bash
# Builds tests/fuzz/layer_unpack_fuzz with clang (-DKAPSEL_BUILD_FUZZ=ON) in a build directory of
# its own and runs it for KAPSEL_FUZZ_SECONDS (default 60) from a generated seed corpus of small
# ordinary and hostile layer tars. A crash, a sanitizer report or a write outside the target
# directory fails the test; the input that caused it is kept under <build>/artifacts/.
# Exits 77 (skip) when clang or its libFuzzer runtime (libclang-rt-14-dev) is missing.
# usage: run_fuzz.sh   (env: KAPSEL_FUZZ_BUILD_DIR, KAPSEL_FUZZ_SECONDS)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${KAPSEL_FUZZ_BUILD_DIR:-$src/build-fuzz}
seconds=${KAPSEL_FUZZ_SECONDS:-60}

command -v clang++ >/dev/null || { echo "SKIP: needs clang (deploy/install-deps.sh)"; exit 77; }
work=$(mktemp -d /tmp/kapsel-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$work/probe.cc"
clang++ -fsanitize=fuzzer,address "$work/probe.cc" -o "$work/probe" 2>"$work/probe.log" ||
  { echo "SKIP: clang cannot link a libFuzzer target: $(head -c 300 "$work/probe.log")"; exit 77; }

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
generator=()
command -v ninja >/dev/null && [[ ! -f $build/CMakeCache.txt || -f $build/build.ninja ]] && generator=(-G Ninja)
cmake -S "$src" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" \
  -DKAPSEL_BUILD_TESTS=OFF -DKAPSEL_BUILD_FUZZ=ON >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; exit 1; }
cmake --build "$build" --target layer_unpack_fuzz -j2

/usr/bin/python3 "$here/make_seed_corpus.py" "$work/seeds"
mkdir -p "$work/corpus" "$work/unpack" "$build/artifacts"
echo "fuzzing the layer extractor for ${seconds}s"
# -timeout: one input that takes longer is a hang; -rss_limit_mb: a leak or a blow-up.
KAPSEL_FUZZ_WORKDIR=$work/unpack "$build/bin/layer_unpack_fuzz" "$work/corpus" "$work/seeds" \
  -dict="$here/layer_unpack.dict" -max_total_time="$seconds" -max_len=65536 -timeout=20 \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/artifacts/" 2>"$work/fuzz.log" ||
  { tail -n 60 "$work/fuzz.log"; echo "FAIL: see $build/artifacts/ for the input"; exit 1; }
grep -E '^(#[0-9]+ *DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' "$work/fuzz.log" || tail -n 5 "$work/fuzz.log"
echo "ok: no crash, no sanitizer report, nothing written outside the target"
