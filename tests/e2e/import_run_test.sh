#!/bin/bash
# import of a buildroot-style busybox rootfs tarball, then run: PID 1 and its own hostname.
source "$(dirname "$0")/lib.sh"
start_daemon

"$FIXTURES/make-busybox-rootfs.sh" "$E2E_TMP/rootfs.tar.gz"
capture kctl import "$E2E_TMP/rootfs.tar.gz" bbfix:1.0 --change 'CMD ["sh"]'
[[ $RC -eq 0 ]] || fail "import: rc=$RC $ERR"
[[ $OUT == sha256:* ]] || fail "import printed '$OUT', want an image id"
kctl images | grep -q '^bbfix *1.0 ' || fail "images does not list bbfix:1.0"
pass "import"

capture kctl run --rm bbfix:1.0 sh -c 'echo $$; hostname; cat /etc/fixture-marker'
[[ $RC -eq 0 ]] || fail "run: rc=$RC $ERR"
mapfile -t lines <<<"$OUT"
[[ ${lines[0]} == 1 ]] || fail "echo \$\$ printed '${lines[0]}', want 1"
[[ -n ${lines[1]} && ${lines[1]} != "$(hostname)" ]] || fail "hostname '${lines[1]}' is the host's"
[[ ${lines[1]} =~ ^[0-9a-f]{12}$ ]] || fail "default hostname '${lines[1]}' is not the short id"
[[ ${lines[2]} == fixture ]] || fail "the rootfs is not the imported one: '${lines[2]}'"
pass "pid 1 and own hostname"

capture kctl run --rm --hostname web1 bbfix:1.0 hostname
[[ $OUT == web1 ]] || fail "--hostname: got '$OUT'"
capture kctl run --rm --hostname web1 bbfix:1.0 sh -c 'cat /etc/hostname; grep -c web1 /etc/hosts'
[[ $OUT == $'web1\n1' ]] || fail "/etc/hostname and /etc/hosts: got '$OUT'"
pass "--hostname, /etc/hostname and /etc/hosts"

capture kctl run --rm busybox echo hello
[[ $RC -eq 0 && $OUT == hello ]] || fail "built-in busybox image: rc=$RC out='$OUT' err='$ERR'"
pass "built-in busybox:latest"

capture kctl run --rm -t busybox sh -c 'tty; [ -t 0 ] && [ -t 1 ] && echo isatty'
OUT=$(tr -d '\r' <<<"$OUT")
[[ $RC -eq 0 && $OUT == $'/dev/console\nisatty' ]] || fail "-t: rc=$RC out='$OUT' err='$ERR'"
pass "-t gives a pty as /dev/console and stdio"

capture kctl run --rm -e FOO=bar -w /tmp busybox sh -c 'echo $FOO; pwd'
[[ $OUT == $'bar\n/tmp' ]] || fail "-e/-w: got '$OUT'"
pass "-e and -w"

[[ $(count_containers) -eq 0 ]] || fail "--rm left containers: $(kctl ps -a)"
pass "--rm removed everything"
