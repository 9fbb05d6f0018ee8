#!/bin/bash
# Builds the Debian package from a build tree (cpack -G DEB, see cmake/Packaging.cmake) and checks
# it: the files, the unit's ExecStart, the conffile, the maintainer scripts, and dependencies that
# came from dpkg-shlibdeps.
#
#   deploy/package.sh [BUILD_DIR]     (default build; the tree must be built)
#
# Writes BUILD_DIR/packaging/kapsel_<version>_<arch>.deb. Exits 77 (skip) without dpkg-dev.
set -euo pipefail
build=$(realpath -e "${1:-build}")
cpack=${CPACK:-cpack}
command -v dpkg-shlibdeps >/dev/null || { echo "package.sh: SKIP: needs dpkg-shlibdeps (dpkg-dev)"; exit 77; }

rm -f "$build"/packaging/kapsel_*.deb
(cd "$build" && "$cpack" -G DEB --config CPackConfig.cmake)
debs=("$build"/packaging/kapsel_*.deb)
[[ -f ${debs[0]} ]] || { echo "package.sh: cpack wrote no kapsel_*.deb"; exit 1; }
deb=${debs[0]}

fails=0
bad() { echo "package.sh: $*"; fails=$((fails + 1)); }
contents=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
for f in ./usr/bin/kapseld ./usr/bin/kapselctl ./usr/libexec/kapsel/kapsel-shim \
  ./usr/lib/systemd/system/kapseld.service ./usr/lib/systemd/system/kapseld.socket \
  ./usr/lib/systemd/system/kapsel-shutdown.service \
  ./usr/lib/tmpfiles.d/kapsel.conf ./usr/lib/sysusers.d/kapsel.conf \
  ./usr/share/bash-completion/completions/kapselctl \
  ./usr/share/man/man1/kapselctl.1.gz ./usr/share/man/man8/kapseld.8.gz ./etc/kapsel/kapseld.json; do
  grep -qxF "$f" <<<"$contents" || bad "missing $f"
done
# Extracted whole: a pipe into tar -xO lets tar quit early and dpkg-deb die of SIGPIPE.
unpacked=$(mktemp -d)
dpkg-deb -x "$deb" "$unpacked"
grep -qx 'ExecStart=/usr/bin/kapseld' "$unpacked/usr/lib/systemd/system/kapseld.service" ||
  bad "kapseld.service: ExecStart is not /usr/bin/kapseld"
rm -rf "$unpacked"
[[ $(dpkg-deb -f "$deb" Depends) == *libgrpc* ]] || bad "no shared library dependencies (dpkg-shlibdeps)"
[[ $(dpkg-deb -I "$deb" conffiles) == /etc/kapsel/kapseld.json ]] || bad "conffiles: not /etc/kapsel/kapseld.json"
control=$(dpkg-deb -I "$deb")
for script in postinst prerm postrm; do
  grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\* +$script " <<<"$control" || bad "no executable $script"
done
dpkg-deb -f "$deb" Package Version Architecture Depends Recommends
echo "$deb: $(du -h "$deb" | cut -f1)"
if [[ $fails -ne 0 ]]; then exit 1; fi
