#!/bin/bash
# Runs test scripts one after another (inside the test VM: the end-to-end and security tests on a
# cgroup-v2-only kernel) and prints one summary line per script. Exit status: 0 when every script
# passed or skipped (77), 1 otherwise.
#
#   tests/vm/run-scripts.sh SCRIPT...
set -u
failed=()
for script in "$@"; do
  name=$(basename "$script" .sh)
  echo "=== $name"
  start=$SECONDS
  bash "$script"
  rc=$?
  case $rc in
    0) echo "=== $name: passed ($((SECONDS - start)) s)" ;;
    77) echo "=== $name: skipped" ;;
    *) echo "=== $name: FAILED with $rc ($((SECONDS - start)) s)"; failed+=("$name") ;;
  esac
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "=== failed: ${failed[*]}"
  exit 1
fi
echo "=== all $# scripts passed or skipped"
