#!/bin/bash
# Confinement options of run: the default seccomp profile and no_new_privs, seccomp=unconfined, a
# Docker-format profile file, --cap-drop/--cap-add, --privileged, and clear refusals of bad values.
source "$(dirname "$0")/lib.sh"
start_daemon

snapshot() {
  echo "containers=$(kctl ps -aq | wc -l)"
  ls "$E2E_TMP/data/containers" 2>/dev/null | sort
  awk '{print $2}' /proc/mounts | grep -c "$E2E_TMP" || true
}

# The process's own status: seccomp filter mode 2 and no_new_privs by default.
capture kctl run --rm busybox sh -c 'grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status'
[[ $RC -eq 0 && $OUT == *"Seccomp:"*2* && $OUT == *"NoNewPrivs:"*1* ]] ||
  fail "default status: rc=$RC out=$OUT err=$ERR"
pass "default container runs filtered (Seccomp: 2) with no_new_privs"

capture kctl run --rm busybox unshare -U true
[[ $RC -ne 0 && $ERR == *"not permitted"* ]] || fail "default unshare -U: rc=$RC err=$ERR"
capture kctl run --rm busybox sh -c 'mkdir /tmp/d && echo made'
[[ $RC -eq 0 && $OUT == made ]] || fail "default profile broke mkdir: rc=$RC err=$ERR"
pass "default profile refuses unshare -U and allows normal work"

capture kctl run --rm --security-opt seccomp=unconfined busybox sh -c \
  'unshare -U true && grep "^Seccomp:" /proc/self/status'
[[ $RC -eq 0 && $OUT == *"Seccomp:"*0* ]] || fail "unconfined unshare -U: rc=$RC out=$OUT err=$ERR"
pass "seccomp=unconfined allows unshare -U"

cat > "$E2E_TMP/nomkdir.json" <<'JSON'
{
  "defaultAction": "SCMP_ACT_ALLOW",
  "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
  "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "comment": "EACCES"},
    {"name": "chroot", "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_CHROOT"]}}
  ]
}
JSON
capture kctl run --rm --security-opt "seccomp=$E2E_TMP/nomkdir.json" busybox mkdir /tmp/d
[[ $RC -ne 0 && $ERR == *"Permission denied"* ]] || fail "profile file mkdir: rc=$RC err=$ERR"
capture kctl run --rm --security-opt "seccomp=$E2E_TMP/nomkdir.json" busybox sh -c 'echo still works'
[[ $RC -eq 0 && $OUT == "still works" ]] || fail "profile file: rc=$RC out=$OUT err=$ERR"
pass "a Docker-format profile file is enforced"

capture kctl run --rm --security-opt no-new-privileges=false busybox grep '^NoNewPrivs:' /proc/self/status
[[ $RC -eq 0 && $OUT == *"NoNewPrivs:"*0* ]] || fail "no-new-privileges=false: rc=$RC out=$OUT err=$ERR"
# Loaded before the capabilities are dropped (it needs CAP_SYS_ADMIN without no_new_privs).
capture kctl run --rm --security-opt no-new-privileges=false busybox unshare -U true
[[ $RC -ne 0 ]] || fail "no-new-privileges=false lost the seccomp filter"
pass "no-new-privileges=false keeps the filter"

# busybox httpd binds, then daemonizes: exit 0 when port 80 could be bound.
capture kctl run --rm busybox httpd -p 80
[[ $RC -eq 0 ]] || fail "default bind to port 80: rc=$RC err=$ERR"
capture kctl run --rm --cap-drop NET_BIND_SERVICE busybox httpd -p 80
[[ $RC -ne 0 && $ERR == *"Permission denied"* ]] || fail "bind with NET_BIND_SERVICE dropped: rc=$RC err=$ERR"
capture kctl run --rm --cap-drop ALL --cap-add net_bind_service busybox httpd -p 80
[[ $RC -eq 0 ]] || fail "bind with only NET_BIND_SERVICE: rc=$RC err=$ERR"
pass "--cap-drop NET_BIND_SERVICE stops binding port 80"

capture kctl run --rm --cap-add SYS_ADMIN busybox sh -c 'mount -t tmpfs none /tmp && echo mounted'
[[ $RC -eq 0 && $OUT == mounted ]] || fail "cap-add SYS_ADMIN mount: rc=$RC out=$OUT err=$ERR"
pass "--cap-add SYS_ADMIN also opens the capability's syscalls in the profile"

capture kctl run --rm --privileged busybox sh -c \
  'grep "^Seccomp:" /proc/self/status; grep "^CapEff:" /proc/self/status; mount -t tmpfs none /tmp && echo mounted'
[[ $RC -eq 0 && $OUT == *"Seccomp:"*0* && $OUT == *mounted* && $OUT != *"CapEff:"*00000000a80425fb* ]] ||
  fail "privileged: rc=$RC out=$OUT err=$ERR"
pass "--privileged: no filter, all capabilities"

before=$(snapshot)
capture kctl run --rm --cap-add BOGUS busybox true
[[ $RC -eq 125 && $ERR == *BOGUS* ]] || fail "--cap-add BOGUS: rc=$RC err=$ERR"
capture kctl run --rm --cap-drop 'CAP_NOPE' busybox true
[[ $RC -eq 125 && $ERR == *CAP_NOPE* ]] || fail "--cap-drop CAP_NOPE: rc=$RC err=$ERR"
capture kctl run --rm --security-opt "seccomp=$E2E_TMP/missing.json" busybox true
[[ $RC -eq 125 && $ERR == *missing.json* ]] || fail "missing profile: rc=$RC err=$ERR"
echo '{"defaultAction": "SCMP_ACT_FOO"}' > "$E2E_TMP/bad.json"
capture kctl run --rm --security-opt "seccomp=$E2E_TMP/bad.json" busybox true
[[ $RC -eq 125 && $ERR == *SCMP_ACT_FOO* ]] || fail "bad profile: rc=$RC err=$ERR"
capture kctl run --rm --security-opt bogus=1 busybox true
[[ $RC -eq 125 && $ERR == *bogus* ]] || fail "bad --security-opt: rc=$RC err=$ERR"
[[ $(snapshot) == "$before" ]] || fail "a refused run changed state: $(snapshot)"
pass "bad capability, profile and option values are refused with exit 125, nothing left behind"
