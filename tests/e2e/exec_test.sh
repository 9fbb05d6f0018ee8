#!/bin/bash
# kapselctl exec: a new process in a running container sees the container's namespaces (hostname,
# pids, mounts), cgroup, capabilities, seccomp filter and no_new_privs; -u, -e, -w and
# --privileged override them; exit codes (the process', 126/127 for one that cannot start); stdin
# piped with -i; a real pty with -it (echo of input, window size); no fd of kapseld in the process;
# clear errors for a stopped and an unknown container.
source "$(dirname "$0")/lib.sh"
start_daemon

"$FIXTURES/make-busybox-rootfs.sh" "$E2E_TMP/base.tar"
kctl import "$E2E_TMP/base.tar" bb:1 >/dev/null

id=$(kctl run -d --name ex --hostname exhost bb:1 sh -c 'echo from-main > /tmp/marker; exec sleep 1000')
for _ in $(seq 1 50); do
  capture kctl exec ex cat /tmp/marker
  [[ $RC -eq 0 ]] && break
  sleep 0.1
done

# --- namespaces: uts, mnt (a file the main process wrote), pid (pid 1 is the container's init).
capture kctl exec ex hostname
[[ $RC -eq 0 && $OUT == exhost ]] || fail "hostname: rc=$RC out=$OUT err=$ERR"
capture kctl exec ex cat /tmp/marker
[[ $OUT == from-main ]] || fail "mount namespace: rc=$RC out=$OUT err=$ERR"
capture kctl exec ex sh -c 'tr "\0" " " </proc/1/cmdline'
[[ $OUT == sleep* ]] || fail "pid 1 is not the container's init: $OUT ($ERR)"
capture kctl exec ex sh -c 'ls /proc | grep -c "^[0-9]"'
[[ $OUT -le 4 ]] || fail "exec sees more than the container's processes: $OUT"
pass "exec sees the container's hostname, mounts and pid namespace"

# --- cgroup: the same as the init's inside, and the process is in kapsel/<id> on the host.
capture kctl exec ex sh -c 'cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup'
self_cg=${OUT%%---*}
init_cg=${OUT##*---}
[[ $(echo "$self_cg" | sed '/^$/d') == $(echo "$init_cg" | sed '/^$/d') ]] || fail "cgroup differs: $OUT"
kctl exec ex sleep 1 >/dev/null &
bg=$!
sleep 0.5
host_procs=$(cat /sys/fs/cgroup/memory/kapsel/"$id"/cgroup.procs 2>/dev/null || cat /sys/fs/cgroup/kapsel/"$id"/cgroup.procs)
wait "$bg"
[[ $(wc -l <<<"$host_procs") -ge 2 ]] || fail "exec'd process not in kapsel/$id: $host_procs"
pass "exec joins the container's cgroup"

# --- capabilities, seccomp, no_new_privs.
main_pid=$(kctl ps -a --format json | grep "\"Id\":\"$id" | sed -n 's/.*"Pid":\([0-9]*\).*/\1/p')
main_capeff=$(awk '/^CapEff/ {print $2}' /proc/"$main_pid"/status)
capture kctl exec ex cat /proc/self/status
capeff=$(awk '/^CapEff/ {print $2}' <<<"$OUT")
[[ -n $capeff && $capeff == "$main_capeff" ]] || fail "CapEff $capeff != main process' $main_capeff"
grep -q '^Seccomp:[[:space:]]*2' <<<"$OUT" || fail "no seccomp filter: $(grep Seccomp <<<"$OUT")"
grep -q '^NoNewPrivs:[[:space:]]*1' <<<"$OUT" || fail "no_new_privs not set"
capture kctl exec --privileged ex cat /proc/self/status
priv_capeff=$(awk '/^CapEff/ {print $2}' <<<"$OUT")
[[ $RC -eq 0 ]] || fail "exec --privileged: rc=$RC $ERR"
[[ $((16#$priv_capeff)) -gt $((16#$capeff)) ]] || fail "--privileged CapEff $priv_capeff not above $capeff"
grep -q '^Seccomp:[[:space:]]*0' <<<"$OUT" || fail "--privileged still filtered"
pass "capabilities ($capeff, privileged $priv_capeff), seccomp 2, no_new_privs 1"

# --- -u, -e, -w.
capture kctl exec -u 1000 ex id -u
[[ $OUT == 1000 ]] || fail "-u 1000: $OUT ($ERR)"
capture kctl exec -u nobody ex id -u
[[ $OUT == 65534 ]] || fail "-u nobody: $OUT ($ERR)"
capture kctl exec -u nobody ex sh -c 'echo $HOME'
[[ $OUT == /home ]] || fail "-u nobody: HOME is not the passwd entry's: $OUT ($ERR)"
capture kctl exec -u nobody -e HOME=/tmp ex sh -c 'echo $HOME'
[[ $OUT == /tmp ]] || fail "-u nobody -e HOME=/tmp: $OUT ($ERR)"
capture kctl exec -u 1000 ex sh -c 'echo $HOME'
[[ $OUT == / ]] || fail "-u 1000 (no passwd entry): HOME=$OUT ($ERR)"
capture kctl exec -u 1000 ex cat /proc/self/status
[[ $(awk '/^CapEff/ {print $2}' <<<"$OUT") == 0000000000000000 ]] || fail "non-root user has capabilities"
capture kctl exec -e FOO=bar -e PATH=/bin ex sh -c 'echo $FOO:$PATH'
[[ $OUT == bar:/bin ]] || fail "-e: $OUT ($ERR)"
capture kctl exec -w /tmp ex pwd
[[ $OUT == /tmp ]] || fail "-w: $OUT ($ERR)"
capture kctl exec -u nosuchuser ex true
[[ $RC -ne 0 && $ERR == *nosuchuser* ]] || fail "unknown user: rc=$RC $ERR"
capture kctl exec -w /does/not/exist ex true
[[ $RC -eq 126 && $ERR == *chdir* ]] || fail "missing workdir: rc=$RC $ERR"
pass "-u, -e, -w"

# --- exit codes.
capture kctl exec ex sh -c 'exit 5'
[[ $RC -eq 5 ]] || fail "exit 5 gave $RC"
capture kctl exec ex no-such-command
[[ $RC -eq 127 && $ERR == *no-such-command* ]] || fail "missing command: rc=$RC $ERR"
capture kctl exec ex /etc/passwd
[[ $RC -eq 126 ]] || fail "not executable: rc=$RC $ERR"
capture kctl exec ex sh -c 'kill -9 $$'
[[ $RC -eq 137 ]] || fail "killed: rc=$RC"
capture kctl exec ex sh -c 'echo out; echo err >&2'
[[ $OUT == out && $ERR == err ]] || fail "stdout/stderr: out=$OUT err=$ERR"
pass "exit codes 5, 127, 126, 137 and separate stdout/stderr"

# --- stdin.
OUT=$(echo hi | kctl exec -i ex cat)
[[ $OUT == hi ]] || fail "stdin: $OUT"
OUT=$(head -c 300000 /dev/zero | kctl exec -i ex wc -c)
[[ $OUT -eq 300000 ]] || fail "large stdin: $OUT"
pass "stdin piped with -i"

# --- no fd of kapseld in the process.
capture kctl exec ex ls /proc/self/fd
[[ $(echo $OUT) == "0 1 2 3" ]] || fail "fds in the exec'd process: $OUT"
capture kctl exec ex readlink /proc/self/cwd
[[ $OUT == / ]] || fail "cwd: $OUT"
pass "only stdio crosses into the container"

# --- -it through a real pty: the window size arrives, typed input is echoed and read.
cat >"$E2E_TMP/drive_pty.py" <<'PY'
import fcntl, os, pty, select, struct, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
deadline = time.time() + 20
sent = False
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    if not sent and b"33 101" in out:
        os.write(fd, b"abc\n")
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
PY
set +e
OUT=$(python3 "$E2E_TMP/drive_pty.py" "$KAPSELCTL" exec -it ex sh -c 'stty size; echo typed:$(head -c3); exit 3')
RC=$?
set -e
[[ $RC -eq 3 ]] || fail "exec -it exit code $RC: $OUT"
[[ $OUT == *"33 101"* ]] || fail "window size not passed: $OUT"
[[ $OUT == *"abc"*"typed:abc"* ]] || fail "input not echoed and read: $OUT"
pass "exec -it: window size 33x101, echo and input through a pty"

# --- a client that goes away takes its process with it.
set +e
timeout -s INT 1 "$KAPSELCTL" exec ex sleep 4242
set -e
sleep 0.5
capture kctl exec ex ps
[[ $OUT != *"sleep 4242"* ]] || fail "process of a cancelled exec still runs: $OUT"
pass "a cancelled exec is killed"

# --- events.
timeout 3 "$KAPSELCTL" events --since 0 --format json --filter container="$id" >"$E2E_TMP/ev" || true
grep -q exec_start "$E2E_TMP/ev" && grep -q exec_die "$E2E_TMP/ev" || fail "no exec events: $(tail -3 "$E2E_TMP/ev")"
pass "exec_start and exec_die events"

# --- errors: unknown container, paused, stopped.
capture kctl exec no-such-container true
[[ $RC -eq 125 && $ERR == *no-such-container* ]] || fail "unknown container: rc=$RC $ERR"
kctl pause ex >/dev/null
capture kctl exec ex true
[[ $RC -eq 125 && $ERR == *"is not running"* ]] || fail "paused: rc=$RC $ERR"
kctl unpause ex >/dev/null
kctl stop -t 1 ex >/dev/null
capture kctl exec ex true
[[ $RC -eq 125 && $ERR == *"container ex is not running"* ]] || fail "stopped: rc=$RC $ERR"
pass "exec into an unknown, a paused and a stopped container: clear errors"
