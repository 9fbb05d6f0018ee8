#!/bin/bash
# attach and run -it (issue 6): a container's terminal driven from a real pty on the client side
# (tests/e2e/pty_driver.py): typed input is echoed and read, the window size arrives at start
# and follows a resize (SIGWINCH), ctrl-p ctrl-q detaches and leaves the container running,
# attach re-attaches and sees the exit code; -i without -t pipes stdin; the first bytes of a
# short-lived container are not lost; bad attaches are refused with a clear error.
source "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }
DRIVER=$(dirname "$0")/pty_driver.py
start_daemon
"$FIXTURES/make-busybox-rootfs.sh" "$E2E_TMP/base.tar"
kctl import "$E2E_TMP/base.tar" bb:1 >/dev/null

drive() {  # drive ROWSxCOLS STEPS -- CMD...: OUT and RC
  set +e
  OUT=$(python3 "$DRIVER" "$@")
  RC=$?
  set -e
}

# --- run -it: size at start, echo, resize, detach.
steps='[["expect", "/ # "],
        ["send", "stty size\n"], ["expect", "33 101"],
        ["resize", 41, 120], ["send", "sleep 0.3; stty size\n"], ["expect", "41 120"],
        ["send", "echo typed-\"\"ok\n"], ["expect", "typed-ok"],
        ["send", "\u0010\u0011"]]'
drive 33x101 "$steps" -- "$KAPSELCTL" run -it --name tt bb:1 sh
[[ $RC -eq 0 ]] || fail "run -it then detach: rc=$RC out=$OUT"
[[ $OUT == *'echo typed-""ok'* ]] || fail "the typed line was not echoed: $OUT"
[[ $(kctl inspect tt | jq -r '.[0].status.state') == CONTAINER_STATE_RUNNING ]] ||
  fail "after ctrl-p ctrl-q the container is not running: $(kctl inspect tt | jq '.[0].status')"
echo "$OUT" | tr -d '\r' | grep -E "^(33 101|41 120)$" | sed 's/^/  stty size: /'
pass "run -it: the window size (33x101, then 41x120 after SIGWINCH) arrives, input is echoed, ctrl-p ctrl-q detaches"

# --- attach again; the shell is the same one; exit with a code.
steps='[["send", "echo back-\"\"again\n"], ["expect", "back-again"], ["send", "exit 3\n"]]'
drive 24x80 "$steps" -- "$KAPSELCTL" attach tt
[[ $RC -eq 3 ]] || fail "attach then exit 3: rc=$RC out=$OUT"
[[ $(kctl inspect tt | jq -r '.[0].status.exitCode') == 3 ]] || fail "inspect after exit 3: $(kctl inspect tt | jq '.[0].status')"
pass "attach re-attaches to the running shell; its exit code 3 comes back"

# --- start -ai of the exited container: a fresh run of the same shell on the same stream.
steps='[["expect", "/ # "], ["send", "echo restarted-\"\"ok; exit 4\n"], ["expect", "restarted-ok"]]'
drive 24x80 "$steps" -- "$KAPSELCTL" start -ai tt
[[ $RC -eq 4 ]] || fail "start -ai: rc=$RC out=$OUT"
pass "start -ai attaches to a container it starts"

# --- -i without -t: stdin is a pipe, closed at the client's end of file.
capture bash -c "printf 'line1\nline2\n' | '$KAPSELCTL' run -i --rm bb:1 sh -c 'cat; echo done:\$?'"
[[ $RC -eq 0 ]] || fail "run -i with piped stdin: rc=$RC err=$ERR"
[[ $OUT == $'line1\nline2\ndone:0' ]] || fail "run -i output: $OUT"
capture bash -c "echo in | '$KAPSELCTL' run -i bb:1 sh -c 'read x; echo got:\$x >&2; exit 5'"
[[ $RC -eq 5 && $ERR == *got:in* ]] || fail "run -i, stderr and exit code: rc=$RC err=$ERR"
pass "run -i pipes stdin to the container and ends it at end of file; stderr and the exit code come back"

# --- output of a short-lived container is seen from its first byte.
for i in 1 2 3; do
  drive 24x80 '[]' -- "$KAPSELCTL" run -it --rm bb:1 echo first-byte-$i
  [[ $RC -eq 0 && $OUT == *first-byte-$i* ]] || fail "run -it of a short-lived container: rc=$RC out=$OUT"
done
pass "run -it of a short-lived container loses none of its output"

# --- bad attaches: a clear error, exit 125, nothing changed.
kctl create --name idle bb:1 true >/dev/null
capture kctl attach idle
[[ $RC -eq 125 && $ERR == *"is not running"* ]] || fail "attach to a created container: rc=$RC err=$ERR"
capture kctl attach no-such-container
[[ $RC -eq 125 && $ERR == *"no-such-container"* ]] || fail "attach to an unknown container: rc=$RC err=$ERR"
[[ $(kctl inspect idle | jq -r '.[0].status.state') == CONTAINER_STATE_CREATED ]] || fail "a refused attach changed the container"
capture bash -c "echo x | '$KAPSELCTL' run -it bb:1 true"
[[ $RC -eq 125 && $ERR == *"not a TTY"* ]] || fail "run -it without a terminal: rc=$RC err=$ERR"
pass "attach to a stopped or unknown container, and -it without a terminal, are refused"
