#!/bin/bash
# Link launcher (RULE_LAUNCH_LINK) that links an executable against static archives instead of
# shared libraries. CMake names the imported shared libraries (abseil, gRPC, protobuf,
# libseccomp, libcap) by their full .so paths; each is replaced by the static archive beside it,
# which Debian's -dev packages ship, and the archives are grouped so that their order on the line
# does not matter.
#
#   static-link.sh COMPILER ARGS...
#       fully static (-static): every library must have an archive.
#   static-link.sh --keep REGEX [--extra LIB]... -- COMPILER ARGS...
#       libraries whose path matches REGEX stay shared, as do glibc and libstdc++; each --extra
#       (e.g. -lssl, the dependencies a static gRPC needs) is added after the group, as needed.
set -euo pipefail
keep=""
extra=()
partial=0
if [[ ${1:-} == --keep ]]; then
  partial=1
  keep=$2
  shift 2
  while [[ $1 != -- ]]; do
    [[ $1 == --extra ]] || { echo "static-link.sh: unknown option $1" >&2; exit 2; }
    extra+=("$2")
    shift 2
  done
  shift
fi
args=()
grouped=0
for a in "$@"; do
  if [[ $a =~ ^(/.+/lib[^/]+)\.so(\.[0-9.]+)?$ && -f ${BASH_REMATCH[1]}.a ]]; then
    archive=${BASH_REMATCH[1]}.a
    if [[ -z $keep || ! $a =~ $keep ]]; then a=$archive; fi
  fi
  if [[ $a == *.a && $grouped -eq 0 ]]; then
    args+=(-Wl,--start-group)
    grouped=1
  fi
  args+=("$a")
done
if [[ $grouped -eq 1 ]]; then args+=(-Wl,--end-group); fi
if [[ $partial -eq 1 ]]; then
  exec "${args[@]}" -Wl,--as-needed "${extra[@]}" -Wl,--no-as-needed
fi
exec "${args[0]}" -static "${args[@]:1}"
