#!/bin/bash
# kapseld as a host service: the configuration file and --validate-config; the API socket admits
# root and members of the socket group and answers everyone else PERMISSION_DENIED; SIGHUP
# reloads the log level and names what needs a restart; sd_notify READY/STATUS/RELOADING/STOPPING
# to $NOTIFY_SOCKET; socket activation with LISTEN_FDS; /metrics counters as containers start,
# fail to start and are OOM-killed.
source "$(dirname "$0")/lib.sh"
MEMHOG=${KAPSEL_MEMHOG:?KAPSEL_MEMHOG must name the static memhog helper}
for tool in python3 setpriv useradd userdel groupadd groupdel usermod; do
  command -v "$tool" >/dev/null || { echo "SKIP: needs $tool"; exit 77; }
done

# A user and a socket group of this test only, removed however the test ends.
TEST_USER=kse2e$$
TEST_GROUP=kse2eg$$
NOTIFY_PID=
finish() {
  local rc=$1
  [[ -n $NOTIFY_PID ]] && kill "$NOTIFY_PID" 2>/dev/null
  userdel -r "$TEST_USER" >/dev/null 2>&1 || true
  groupdel "$TEST_GROUP" >/dev/null 2>&1 || true
  (exit "$rc")
  cleanup
}
trap 'finish $?' EXIT
groupadd "$TEST_GROUP"
useradd -M -s /usr/sbin/nologin "$TEST_USER"
TEST_UID=$(id -u "$TEST_USER")
as_user() { setpriv --reuid "$TEST_USER" --regid "$TEST_USER" --init-groups "$@"; }
# The user must reach the socket under the test's temp dir (mktemp -d makes it 0700).
chmod 0711 "$E2E_TMP"

CONFIG=$E2E_TMP/kapseld.json
write_config() {  # write_config LOG_LEVEL DATA_ROOT [INSECURE_REGISTRY]
  local registries=""
  [[ -z ${3:-} ]] || registries="\"$3\""
  cat >"$CONFIG" <<EOF
{
  "data_root": "$2",
  "exec_root": "$E2E_TMP/run",
  "socket_group": "$TEST_GROUP",
  "log_level": "$1",
  "ip_forward": false,
  "log_rotation": {"max_size": "1m", "max_files": 2},
  "default_ulimits": [{"name": "nofile", "soft": 1000, "hard": 2000}],
  "insecure_registries": [$registries],
  "metrics": "unix:$E2E_TMP/run/metrics.sock"
}
EOF
}

# --validate-config: OK for a good file, the bad field for a bad one, without starting anything.
write_config info "$E2E_TMP/data"
capture "$KAPSELD" --validate-config --config "$CONFIG"
[[ $RC -eq 0 && $OUT == OK ]] || fail "validate good config: rc=$RC out=$OUT err=$ERR"
for bad in '{"bridge_subnet": "10.0.0.1/24"}|bridge_subnet: ' '{"frobnicate": 1}|frobnicate: unknown field' \
  '{"metrics": "0.0.0.0:9323"}|not a loopback address' '{"log_level": "loud"}|log_level: ' \
  '{"userns_remap": "nosuchuser'$$'"}|/etc/subuid has no range for nosuchuser' "{\"socket_group\": \"nosuchgroup$$\"}|socket_group: "; do
  echo "${bad%%|*}" >"$E2E_TMP/bad.json"
  capture "$KAPSELD" --validate-config --config "$E2E_TMP/bad.json"
  [[ $RC -eq 1 && $ERR == *"${bad#*|}"* ]] || fail "validate ${bad%%|*}: rc=$RC err=$ERR"
done
capture "$KAPSELD" --validate-config --config "$E2E_TMP/missing.json"
[[ $RC -eq 1 && $ERR == *missing.json* ]] || fail "a missing --config file: rc=$RC err=$ERR"
capture "$KAPSELD" --validate-config --config "$CONFIG" --log-level verbose
[[ $RC -eq 1 && $ERR == *log_level* ]] || fail "a bad flag over a good file: rc=$RC err=$ERR"
[[ ! -e $E2E_TMP/run ]] || fail "--validate-config created the exec root"
pass "--validate-config: OK for a good file, the bad field for a bad one"

# A stand-in for systemd's notification socket: each datagram, then a separator line.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode() + "\n--\n")
' "$E2E_TMP/notify.sock" "$E2E_TMP/notify.log" &
NOTIFY_PID=$!
for _ in $(seq 1 100); do [[ -S $E2E_TMP/notify.sock ]] && break; sleep 0.02; done
wait_for() {  # wait_for FILE TEXT [COUNT]: until FILE has COUNT lines with TEXT
  for _ in $(seq 1 200); do
    [[ $(grep -c -- "$2" "$1" 2>/dev/null) -ge ${3:-1} ]] && return 0
    sleep 0.05
  done
  fail "no '$2' in $1: $(cat "$1" 2>/dev/null)"
}

NOTIFY_SOCKET=$E2E_TMP/notify.sock "$KAPSELD" --config "$CONFIG" >>"$E2E_TMP/kapseld.log" 2>&1 &
DAEMON_PID=$!
wait_for "$E2E_TMP/notify.log" "READY=1"
grep -q "STATUS=0 containers running" "$E2E_TMP/notify.log" || fail "no STATUS: $(cat "$E2E_TMP/notify.log")"
kctl version >/dev/null
[[ $(stat -c '%U:%G %a' "$KAPSEL_SOCKET") == "root:$TEST_GROUP 660" ]] ||
  fail "socket: $(stat -c '%U:%G %a' "$KAPSEL_SOCKET")"
pass "READY=1 and STATUS= on \$NOTIFY_SOCKET; socket root:$TEST_GROUP 0660"

# Not in the group: the socket's mode keeps the user out, and with the mode loosened kapseld
# itself refuses with PERMISSION_DENIED.
capture as_user "$KAPSELCTL" ps
[[ $RC -eq 125 && $ERR == *"Permission denied"* ]] || fail "outsider through 0660: rc=$RC err=$ERR"
chmod 0666 "$KAPSEL_SOCKET"
capture as_user "$KAPSELCTL" ps
chmod 0660 "$KAPSEL_SOCKET"
[[ $RC -eq 125 && $ERR == *"permission denied: uid $TEST_UID may not use kapseld"*"\"$TEST_GROUP\""* ]] ||
  fail "outsider through 0666: rc=$RC err=$ERR"
grep -q "api connection from uid $TEST_UID pid [0-9]* refused" "$E2E_TMP/kapseld.log" ||
  fail "the refusal is not logged"
pass "an outsider is refused: $ERR"

# SIGHUP: the log level goes to debug now; a new data root waits for a restart.
grep -q "request /kapsel.v1.Containers/List" "$E2E_TMP/kapseld.log" && fail "debug lines at info level"
write_config debug "$E2E_TMP/data2" registry.test:5000
kill -HUP "$DAEMON_PID"
wait_for "$E2E_TMP/kapseld.log" "reload: applied"
grep -q "reload: applied .*log_level.*insecure_registries" "$E2E_TMP/kapseld.log" ||
  fail "log_level and insecure_registries not applied: $(grep reload "$E2E_TMP/kapseld.log")"
grep -q "reload: data_root changed; it takes effect when kapseld restarts" "$E2E_TMP/kapseld.log" ||
  fail "no restart notice for data_root: $(grep reload "$E2E_TMP/kapseld.log")"
wait_for "$E2E_TMP/notify.log" "RELOADING=1"
wait_for "$E2E_TMP/notify.log" "READY=1" 2
pass "SIGHUP: log level, insecure registries applied; data_root waits; RELOADING=1, READY=1"

# In the group: admitted, and each request is logged (now at debug) with the caller's uid and pid.
usermod -a -G "$TEST_GROUP" "$TEST_USER"
capture as_user "$KAPSELCTL" ps
[[ $RC -eq 0 && $OUT == CONTAINER* ]] || fail "group member: rc=$RC out=$OUT err=$ERR"
grep -q "request /kapsel.v1.Containers/List from uid $TEST_UID pid [0-9]" "$E2E_TMP/kapseld.log" ||
  fail "no request log line with the uid: $(tail -n 5 "$E2E_TMP/kapseld.log")"
pass "a member of $TEST_GROUP is admitted; requests are logged with uid and pid"

# Metrics move with starts, failed starts and OOM kills.
metrics() {
  python3 - "$E2E_TMP/run/metrics.sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
head, _, body = data.partition(b"\r\n\r\n")
assert head.startswith(b"HTTP/1.0 200 OK"), head
sys.stdout.write(body.decode())
EOF
}
metric() { metrics | awk -v n="$1" '$1 == n { print $2 }'; }
[[ $(metric kapsel_container_starts_total) == 0 ]] || fail "starts before any: $(metrics)"
capture kctl run --rm busybox sh -c 'ulimit -n; ulimit -Hn'
[[ $RC -eq 0 && $OUT == $'1000\n2000' ]] || fail "default ulimits: rc=$RC out=$OUT err=$ERR"
capture kctl run --rm busybox /no/such/program
[[ $RC -eq 127 ]] || fail "a missing program: rc=$RC err=$ERR"
id=$(kctl run -d busybox sleep 300)
[[ $(metric kapsel_container_starts_total) == 2 ]] || fail "starts: $(metrics)"
[[ $(metric kapsel_container_start_failures_total) == 1 ]] || fail "failures: $(metrics)"
[[ $(metric kapsel_container_start_seconds_count) == 3 ]] || fail "start latency: $(metrics)"
[[ $(metric 'kapsel_containers{state="running"}') == 1 ]] || fail "running gauge: $(metrics)"
metrics | grep -q "^kapsel_container_pids{id=\"$id\",name=\"[a-z_0-9]*\"} 1$" ||
  fail "per-container pids: $(metrics)"
metrics | grep -q "^kapsel_container_memory_bytes{id=\"$id\"" || fail "per-container memory"
metrics | grep -q '^kapsel_image_store_bytes [1-9]' || fail "image store bytes: $(metrics)"
wait_for "$E2E_TMP/notify.log" "STATUS=1 container running"
capture kctl run --rm -m 32m --memory-swap 32m -v "$MEMHOG:/memhog:ro" busybox /memhog 8 20
[[ $RC -eq 137 ]] || fail "memhog under -m 32m: rc=$RC"
for _ in $(seq 1 50); do [[ $(metric kapsel_oom_kills_total) -ge 1 ]] && break; sleep 0.1; done
[[ $(metric kapsel_oom_kills_total) -ge 1 ]] || fail "oom kills: $(metrics)"
kctl rm -f "$id" >/dev/null
pass "metrics: starts, failures, latency, states, per-container stats, OOM kills"

stop_daemon TERM
wait_for "$E2E_TMP/notify.log" "STOPPING=1"
[[ ! -e $KAPSEL_SOCKET ]] || fail "kapseld left its own socket behind"
pass "STOPPING=1 at shutdown"

# Socket activation: a listening socket as fd 3, LISTEN_FDS=1, LISTEN_PID of kapseld itself.
ACT_SOCKET=$E2E_TMP/act.sock
python3 - "$ACT_SOCKET" "$KAPSELD" --config "$CONFIG" --data-root "$E2E_TMP/data" \
  >>"$E2E_TMP/kapseld.log" 2>&1 <<'EOF' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)  # sockets are close-on-exec in Python; dup2 onto itself keeps that
os.environ["LISTEN_FDS"] = "1"
os.execvp("sh", ["sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"'] + sys.argv[2:])
EOF
DAEMON_PID=$!
for _ in $(seq 1 200); do KAPSEL_SOCKET=$ACT_SOCKET kctl version >/dev/null 2>&1 && break; sleep 0.05; done
KAPSEL_SOCKET=$ACT_SOCKET kctl version >/dev/null || fail "no API on the passed socket"
grep -q "serving on the socket systemd passed" "$E2E_TMP/kapseld.log" || fail "activation not logged"
[[ ! -e $KAPSEL_SOCKET ]] || fail "kapseld bound its own socket as well"
stop_daemon TERM
[[ -S $ACT_SOCKET ]] || fail "kapseld removed the socket systemd owns"
pass "socket activation: serves on the passed fd, leaves the socket to its owner"
