#!/bin/bash
# Link launcher (RULE_LAUNCH_LINK) that links an executable statically. CMake names the imported
# shared libraries (abseil, libseccomp, libcap) by their full .so paths; each is replaced by the
# static archive beside it, which Debian's -dev packages ship, and the archives are grouped so
# that their order on the line does not matter. Usage: static-link.sh COMPILER ARGS...
set -euo pipefail
args=()
grouped=0
for a in "$@"; do
  if [[ $a =~ ^(/.+/lib[^/]+)\.so(\.[0-9.]+)?$ && -f ${BASH_REMATCH[1]}.a ]]; then
    a=${BASH_REMATCH[1]}.a
  fi
  if [[ $a == *.a && $grouped -eq 0 ]]; then
    args+=(-Wl,--start-group)
    grouped=1
  fi
  args+=("$a")
done
if [[ $grouped -eq 1 ]]; then args+=(-Wl,--end-group); fi
exec "${args[0]}" -static "${args[@]:1}"
