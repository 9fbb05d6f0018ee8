#!/bin/bash
# The guest side of run-systemd-vm.sh, run by kapsel-vm-test.service in a Debian booted with
# systemd as PID 1 (cgroup v2): installs the kapsel package the host built and checks kapseld as a
# systemd service. Output goes to the second serial port (the host's stdout); the exit code (the
# number of failed checks, 0 when all passed) goes to rc in the exchange directory, then the guest
# powers off.

set -u
X=/mnt/kapsel-vm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec >/dev/ttyS1 2>&1

fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# check DESCRIPTION COMMAND...: passes when the command succeeds (its duration in parentheses).
check() {
  local what=$1 t0=$SECONDS
  shift
  if "$@"; then pass "$what ($((SECONDS - t0))s)"; else fail "$what ($((SECONDS - t0))s)"; fi
}
# expect DESCRIPTION WANT GOT
expect() {
  if [[ $3 == "$2" ]]; then pass "$1: $3"; else fail "$1: got '$3', want '$2'"; fi
}
# Seconds since the guest's kernel started.
uptime_s() { cut -d. -f1 /proc/uptime; }
step() { echo "--- $* ($(uptime_s)s after boot)"; }
finish() {
  echo "guest-test: $fails failed check(s), ${SECONDS}s of checks, $(uptime_s)s after boot"
  echo "$1" >"$X/rc.tmp" && mv "$X/rc.tmp" "$X/rc"
  sync
  # At once, without stopping units: the image is a throw-away snapshot, and a clean shutdown
  # waits for the container left running (a pid namespace's init ignores SIGTERM).
  systemctl poweroff --force --force || echo o >/proc/sysrq-trigger
  exit 0
}
# kapselctl with a time limit: a hung call fails its check instead of eating the VM's timeout.
k() { timeout 120 kapselctl "$@"; }

step "boot"
state=$(systemctl is-system-running --wait)
echo "is-system-running: $state"
if [[ $state != running ]]; then
  systemctl --failed --no-pager --no-legend
  fail "is-system-running: $state"
fi
echo "cgroup: $(stat -fc %T /sys/fs/cgroup), PID 1: $(cat /proc/1/comm), kernel $(uname -r)"

step "install the package"
t0=$SECONDS
if apt-get install -y -q --no-install-recommends "$X/kapsel.deb" >/tmp/apt.log 2>&1; then
  pass "apt-get install ./$(basename "$(readlink -f "$X/kapsel.deb")") ($((SECONDS - t0))s)"
  grep -E '^(Setting up|Unpacking) ' /tmp/apt.log
else
  tail -n 30 /tmp/apt.log
  fail "apt-get install of the package"
  finish 1
fi
check "kapsel group exists" getent group kapsel
expect "kapseld.socket enabled" enabled "$(systemctl is-enabled kapseld.socket)"
systemctl start kapseld.socket
expect "kapseld.socket active" active "$(systemctl is-active kapseld.socket)"
expect "socket owner and mode" "root:kapsel 660" "$(stat -c '%U:%G %a' /run/kapsel/kapsel.sock)"
expect "kapseld not started before the first client" inactive "$(systemctl is-active kapseld)"
check "kapseld --validate-config /etc/kapsel/kapseld.json" kapseld --validate-config

step "socket activation"
out=$(k run --rm busybox echo hi 2>&1)
echo "kapselctl run --rm busybox echo hi: $out"
expect "run output" hi "$out"
expect "kapseld activated" active "$(systemctl is-active kapseld)"

step "restart keeps containers"
id=$(k run -d busybox sleep 1000)
pid=$(k inspect "$id" | grep -o '"pid": *[0-9]*' | head -n 1 | grep -o '[0-9]*$')
shim=$(ps -o ppid= -p "${pid:-0}" | tr -d ' ')
main=$(systemctl show -p MainPID --value kapseld)
echo "container ${id:0:12}: pid ${pid:-?}, shim ${shim:-?}; kapseld MainPID $main"
expect "container's oom_score_adj (kapseld has -500)" 0 "$(cat "/proc/${pid:-0}/oom_score_adj" 2>&1)"
expect "kapseld's oom_score_adj" -500 "$(cat "/proc/$main/oom_score_adj" 2>&1)"
check "systemctl restart kapseld" systemctl restart kapseld
main2=$(systemctl show -p MainPID --value kapseld)
echo "after restart: kapseld MainPID $main2 (was $main)"
check "a new kapseld process" test "$main2" != "$main" -a "$main2" != 0
check "shim $shim survives the restart" kill -0 "${shim:-0}"
check "container process $pid survives the restart" kill -0 "${pid:-0}"
k ps
check "kapselctl ps shows the container running" bash -c \
  "timeout 60 kapselctl ps -q --no-trunc | grep -qx '$id'"

step "stop"
check "systemctl stop kapseld" systemctl stop kapseld
state=$(for p in ActiveState Result ExecMainStatus; do systemctl show -p "$p" --value kapseld; done | xargs)
expect "kapseld after stop (state, result, exit status)" "inactive success 0" "$state"
check "no failed units" test -z "$(systemctl --failed --no-legend --plain)"
check "container survives the stop" kill -0 "${pid:-0}"

step "journal"
journalctl -u kapseld --no-pager -o short-monotonic | tail -n 12
lines=$(journalctl -u kapseld --no-pager -o cat _COMM=kapseld | wc -l)
check "kapseld's own log lines in the journal ($lines)" test "$lines" -gt 0

step "access control"
out=$(runuser -u nobody -- timeout 60 kapselctl ps 2>&1)
rc=$?
echo "nobody: kapselctl ps -> exit $rc: $out"
check "nobody is refused by the socket" bash -c "[[ $rc -ne 0 && '${out,,}' == *'permission denied'* ]]"
# The daemon's own check, past the socket's mode: SO_PEERCRED of a user outside the group.
chmod 0666 /run/kapsel/kapsel.sock
out=$(runuser -u nobody -- timeout 60 kapselctl ps 2>&1)
rc=$?
chmod 0660 /run/kapsel/kapsel.sock
echo "nobody, socket 0666: kapselctl ps -> exit $rc: $out"
check "nobody is refused by kapseld" bash -c "[[ $rc -ne 0 && '${out,,}' == *'permission denied'* ]]"
useradd --no-create-home --groups kapsel kapseltest
if out=$(runuser -u kapseltest -- timeout 60 kapselctl ps 2>&1); then
  pass "a member of the kapsel group is admitted"
else
  fail "a member of the kapsel group is admitted: $out"
fi

step "a remapped container (--userns) on cgroup v2 and ext4"
echo "kapsel:100000:65536" >>/etc/subuid
echo "kapsel:100000:65536" >>/etc/subgid
out=$(k run --rm --userns remap:kapsel busybox sh -c \
  'id -u; cat /proc/self/uid_map; test -f /sys/fs/cgroup/cgroup.controllers && echo cgroup2; echo x > /w && echo wrote' 2>&1 | tr -s ' \n' ' ')
echo "$out"
check "root inside maps to host uid 100000, sees its cgroup2 and writes its rootfs" \
  bash -c "[[ '$out' == '0 0 100000 65536 cgroup2 wrote ' ]]"

step "upgrade to the next version"
# An administrator's change to the conffile, which the upgrade must keep.
echo '{"log_level": "debug"}' >/etc/kapsel/kapseld.json
main=$(systemctl show -p MainPID --value kapseld)
t0=$SECONDS
if apt-get install -y -q --no-install-recommends "$X/kapsel-upgrade.deb" >/tmp/apt.log 2>&1; then
  pass "apt-get install of the next version ($((SECONDS - t0))s)"
  grep -E '^(Preparing to unpack|Unpacking|Setting up) ' /tmp/apt.log
else
  tail -n 30 /tmp/apt.log
  fail "apt-get install of the next version"
fi
expect "installed version" "$(dpkg-deb -f "$X/kapsel-upgrade.deb" Version)" \
  "$(dpkg-query -W -f '${Version}' kapsel)"
expect "the conffile keeps the administrator's change" '{"log_level": "debug"}' \
  "$(cat /etc/kapsel/kapseld.json)"
main2=$(systemctl show -p MainPID --value kapseld)
echo "kapseld MainPID $main2 (was $main)"
check "kapseld restarted on the new binary" test "$main2" != "$main" -a "$main2" != 0
check "the container survives the upgrade" kill -0 "${pid:-0}"
check "kapselctl ps shows it after the upgrade" bash -c \
  "timeout 60 kapselctl ps -q --no-trunc | grep -qx '$id'"
expect "kapseld.socket still enabled" enabled "$(systemctl is-enabled kapseld.socket)"

step "shutdown stops the containers"
expect "kapsel-shutdown.service enabled" enabled "$(systemctl is-enabled kapsel-shutdown.service)"
expect "kapsel-shutdown.service active" active "$(systemctl is-active kapsel-shutdown.service)"
stubborn=$(k run -d busybox sh -c 'trap "" TERM; while :; do sleep 1; done')
# What a shutdown does: it stops this unit (before kapseld, which still serves).
before=$SECONDS
check "systemctl stop kapsel-shutdown.service" systemctl stop kapsel-shutdown.service
echo "the containers were stopped in $((SECONDS - before)) s (SIGKILL after 10 s for one)"
line=$(k ps -a --format json | grep "$stubborn")
echo "$line"
check "the container that ignores SIGTERM is killed after its grace (137)" \
  grep -q '"ExitCode":137' <<<"$line"
check "the other container is stopped" bash -c \
  "kapselctl ps -a --format json | grep '$id' | grep -q '\"State\":\"exited\"'"
check "systemctl start kapsel-shutdown.service (back for the real shutdown)" \
  systemctl start kapsel-shutdown.service
check "kapselctl rm the stubborn container" k rm -f "$stubborn"

# apt-get remove and purge cost about 80 s under TCG (daemon-reload and deb-systemd-helper in
# the maintainer scripts): only with run-systemd-vm.sh --remove, not in CI's run.
if [[ -f $X/remove ]]; then
  step "remove and purge"
  check "kapselctl rm -f" k rm -f "$id"
  if apt-get remove -y -q kapsel >/tmp/apt.log 2>&1; then pass "apt-get remove kapsel"; else
    tail -n 30 /tmp/apt.log
    fail "apt-get remove kapsel"
  fi
  expect "kapseld.socket after remove" inactive "$(systemctl is-active kapseld.socket)"
  expect "kapseld after remove" inactive "$(systemctl is-active kapseld)"
  check "binaries and units gone" test ! -e /usr/bin/kapseld -a ! -e /usr/bin/kapselctl \
    -a ! -e /usr/lib/systemd/system/kapseld.service -a ! -e /usr/lib/systemd/system/kapseld.socket
  check "config kept until purge" test -f /etc/kapsel/kapseld.json
  userdel kapseltest
  if apt-get purge -y -q kapsel >/tmp/apt.log 2>&1; then pass "apt-get purge kapsel"; else
    tail -n 30 /tmp/apt.log
    fail "apt-get purge kapsel"
  fi
  check "group, config and state gone after purge" test -z "$(getent group kapsel)" \
    -a ! -e /etc/kapsel -a ! -e /var/lib/kapsel
fi
check "no failed units at the end" test -z "$(systemctl --failed --no-legend --plain)"
echo "boot: $(systemd-analyze time 2>/dev/null | head -n 1)"

finish "$fails"
