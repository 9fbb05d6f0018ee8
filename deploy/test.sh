#!/bin/bash
# From a fresh Debian 12 machine to the whole test suite: installs the dependencies, builds with
# the tests and runs them all (unit, integration on the real kernel, e2e with kapseld and
# kapselctl). Needs root for the integration and e2e tiers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
bash deploy/build.sh -DKAPSEL_BUILD_TESTS=ON
cd build
ctest --output-on-failure -j2 -L unit
ctest --output-on-failure -L 'integration|e2e|vm|fuzz'
