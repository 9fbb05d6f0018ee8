#!/bin/bash
# Networking leaves nothing behind: 50 containers (default bridge with a port published on
# 127.0.0.1, a user network, --network none) started and removed leave the host's links, addresses
# and nft ruleset exactly as before, and no namespace or mount under the exec root. kapseld is
# killed with SIGKILL on the way: after 25 containers while more are being started, then 7 times
# while one `run -d -p` is in flight (at points of its create); each restart must repair what the
# crash left half-made. Traffic goes only to 127.0.0.1. Shares kapsel0 and the `ip kapsel` table
# with the other network tests: never run it beside them.
source "$(dirname "$0")/lib.sh"

links() { ip -j -d link show | jq -r '.[] | "\(.ifname) \(.linkinfo.info_kind // "-")"' | sort; }
addrs() { ip -o addr show | awk '{print $2, $3, $4}' | sort; }  # link, family, address/prefix
# The ruleset without table ip kapsel (for a host where it existed before the test).
ruleset_without_kapsel() {
  nft list ruleset | awk '/^table ip kapsel \{/ {skip = 1} !skip {print} skip && /^\}/ {skip = 0}'
}
mounts_under() { awk -v t="$1/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo; }
procs_under() {  # pids whose command line names the test's temp dir (shims, containers' parents)
  local p
  for p in /proc/[0-9]*; do
    grep -qaF "$E2E_TMP" "$p/cmdline" 2>/dev/null && echo "${p#/proc/}"
  done
  return 0
}
# (the host busybox wget crashes on -T, so the time limit comes from timeout)
http_get() { timeout 5 /bin/busybox wget -qO- "$1"; }

links_before=$(links)
addrs_before=$(addrs)
nft_before=$(nft list ruleset)
nft_before_rest=$(ruleset_without_kapsel)
netns_dir=$E2E_TMP/run/netns
[[ -z $(mounts_under "$E2E_TMP") ]] || fail "mounts under $E2E_TMP before the start"

# On a failure, leftnet goes too (lib.sh's cleanup knows only the default bridge): through the
# daemon when it still runs, else its bridge directly; then lib.sh's cleanup, with the exit code.
leftnet_bridge=
remove_leftnet() {
  local rc=$?
  set +e
  if [[ -n $leftnet_bridge ]]; then
    if [[ -n $DAEMON_PID ]]; then
      for id in $(kctl ps -aq --no-trunc 2>/dev/null); do kctl rm -f "$id" >/dev/null 2>&1; done
      kctl network rm leftnet >/dev/null 2>&1
    fi
    ip link del "$leftnet_bridge" 2>/dev/null
  fi
  (exit "$rc")
  cleanup
}
trap remove_leftnet EXIT

start_daemon
# The user network's subnet: one no address of the host is in.
sub=
for _ in $(seq 1 50); do
  n=$((100 + RANDOM % 150))
  grep -q " 10\.213\.$n\." <<<"$(ip -o -4 addr)" || { sub=$n; break; }
done
[[ -n $sub ]] || fail "no free 10.213.x.0/24 for the user network"
kctl network create --subnet "10.213.$sub.0/24" leftnet >/dev/null
leftnet_bridge=$(kctl network inspect leftnet | jq -r '.[0].bridge')
[[ $leftnet_bridge == kb* ]] || fail "leftnet's bridge: '$leftnet_bridge'"

port_base=$((18100 + RANDOM % 800))
ids=()
declare -A mode_of
record() { ids+=("$2"); mode_of[$2]=$(mode "$1"); }  # record I ID
mode() { local m=(bridge leftnet none); echo "${m[$(($1 % 3))]}"; }
# run_one I: container I, detached; a third each on the default bridge with a published port, on
# leftnet and without a network. Container 0 serves HTTP on its published port.
run_one() {
  local i=$1 args
  case $(mode "$i") in
    bridge) args=(-p "127.0.0.1:$((port_base + i)):80") ;;
    leftnet) args=(--network leftnet) ;;
    none) args=(--network none) ;;
  esac
  if ((i == 0)); then
    kctl run -d "${args[@]}" busybox \
      sh -c 'mkdir -p /www && echo leftover-check > /www/index.html && exec httpd -f -p 80 -h /www'
  else
    kctl run -d "${args[@]}" busybox sleep 300
  fi
}

# After a restart: every veth, namespace, endpoint and DNAT rule belongs to a container the daemon
# knows, no veth peer is left on the host, and the containers that were running kept theirs.
check_repaired() {
  local what=$1 known l name id found ep addr
  known=$(kctl ps -aq --no-trunc)
  while read -r name kind; do
    [[ $name == kv* && $kind == veth ]] || continue
    found=0
    for id in $known; do [[ $name == "kv${id:0:12}" ]] && found=1; done
    ((found)) || fail "$what: veth $name of no known container (known: ${known//$'\n'/ })"
  done < <(links)
  for l in "$netns_dir"/*; do
    [[ -e $l ]] || continue
    l=${l##*/}
    grep -qx "$l" <<<"$known" || fail "$what: namespace $l of no known container"
    grep -qxF "$netns_dir/$l" <<<"$(mounts_under "$netns_dir")" ||
      fail "$what: $netns_dir/$l is no mount"
  done
  for l in $(mounts_under "$netns_dir"); do
    [[ -e $l ]] || fail "$what: mount $l without its file"
  done
  for ep in $(kctl network inspect bridge leftnet | jq -r '.[].endpoints[].containerId'); do
    grep -qx "$ep" <<<"$known" || fail "$what: endpoint of unknown container $ep"
  done
  local addresses
  addresses=$(kctl network inspect bridge leftnet | jq -r '.[].endpoints[].ipAddress')
  for addr in $(nft list table ip kapsel | sed -n 's/.*dnat to \([0-9.]*\):.*/\1/p'); do
    grep -qx "$addr" <<<"$addresses" || fail "$what: dnat to $addr, no container's address"
  done
  for id in "${ids[@]}"; do
    grep -qx "$id" <<<"$known" || fail "$what: container ${id:0:12} is gone"
    [[ ${mode_of[$id]} == none ]] && continue
    [[ -n $(ip -o link show "kv${id:0:12}" 2>/dev/null) ]] ||
      fail "$what: running container ${id:0:12} lost its veth"
  done
}

# Containers the daemon knows that no `run -d` reported (a create cut off by the crash): they must
# remove cleanly. True when there was one.
remove_half_created() {
  local id extra=()
  for id in $(kctl ps -aq --no-trunc); do
    [[ -v mode_of[$id] ]] || extra+=("$id")
  done
  ((${#extra[@]})) || return 1
  kctl rm -f "${extra[@]}" >/dev/null || fail "rm -f of the half-created ${extra[*]}"
}

for i in $(seq 0 24); do
  id=$(run_one "$i")
  record "$i" "$id"
done
body=""
for _ in $(seq 1 50); do
  body=$(http_get "http://127.0.0.1:$port_base/" 2>/dev/null) && break
  sleep 0.1
done
[[ $body == leftover-check ]] || fail "published port $port_base before the crash: '$body'"
pass "25 containers on bridge (-p), leftnet and none; 127.0.0.1:$port_base answers"

# kill -9 while more are being started: a loop of `run -d` in the background, stopped by the crash.
: >"$E2E_TMP/bg_ids"
(
  for i in $(seq 25 40); do
    id=$(run_one "$i" 2>/dev/null) || exit 0
    echo "$i $id"
  done
) >"$E2E_TMP/bg_ids" &
bg=$!
for _ in $(seq 1 100); do (($(wc -l <"$E2E_TMP/bg_ids") >= 2)) && break; sleep 0.02; done
sleep 0.05
stop_daemon KILL
wait "$bg" || true
while read -r i id; do record "$i" "$id"; done <"$E2E_TMP/bg_ids"
next=$((25 + $(wc -l <"$E2E_TMP/bg_ids")))
start_daemon
check_repaired "after kill -9 during starts"
if remove_half_created; then check_repaired "after removing the half-created container"; fi
body=$(http_get "http://127.0.0.1:$port_base/" 2>/dev/null) || true
[[ $body == leftover-check ]] || fail "published port $port_base after the restart: '$body'"
pass "kill -9 after ${#ids[@]} started, more in flight: repaired at restart," \
  "127.0.0.1:$port_base still answers"

# kill -9 while one `run -d -p` is in flight: at the request's arrival and at points of its create
# (Prepare of a bridge with a port takes tens of ms here, the commit and the start about 30 more).
log_has_run_after() {  # log_has_run_after LINE: a Run request is logged past line LINE
  awk -v n="$1" 'NR > n && /Containers\/Run/ {found = 1} END {exit !found}' "$E2E_TMP/kapseld.log"
}
kills=1
cut_off=0 finished=0
for delay in 0 0.01 0.02 0.035 0.05 0.08 0.12; do
  p=$((port_base + 900 + kills))
  lines=$(wc -l <"$E2E_TMP/kapseld.log")
  (kctl run -d -p "127.0.0.1:$p:80" busybox sleep 300 >"$E2E_TMP/inflight" 2>&1 || true) &
  client=$!
  for _ in $(seq 1 400); do log_has_run_after "$lines" && break; sleep 0.005; done
  log_has_run_after "$lines" || fail "the run in flight never reached kapseld"
  sleep "$delay"
  stop_daemon KILL
  kills=$((kills + 1))
  wait "$client" || true
  start_daemon
  check_repaired "after kill -9 of a run ${delay}s into its request"
  # A container it left (finished, or created and cut off) removes cleanly and frees its port.
  if remove_half_created; then
    if [[ $(cat "$E2E_TMP/inflight") =~ ^[0-9a-f]{64}$ ]]; then
      finished=$((finished + 1))
    else
      cut_off=$((cut_off + 1))
    fi
  fi
  table=$(nft list table ip kapsel)
  grep -q "dport $p " <<<"$table" && fail "dnat for port $p of a removed container"
  check_repaired "after removing what the run ${delay}s into its request left"
done
pass "kill -9 of $((kills - 1)) runs in flight: repaired ($cut_off left a container," \
  "$finished had finished; all removed cleanly)"

while ((${#ids[@]} < 50)); do
  id=$(run_one "$next")
  record "$next" "$id"
  next=$((next + 1))
done
all=$(kctl ps -aq --no-trunc)
[[ $(wc -l <<<"$all") -eq 50 ]] || fail "want 50 containers, have $(wc -l <<<"$all"): $(kctl ps -a)"
kctl rm -f $all >/dev/null
kctl network rm leftnet >/dev/null
[[ -z $(kctl ps -aq) ]] || fail "containers left: $(kctl ps -a)"
[[ $(kctl network inspect bridge | jq '.[0].endpoints | length') -eq 0 ]] ||
  fail "endpoints left on bridge: $(kctl network inspect bridge)"
[[ -z $(ls -A "$netns_dir") ]] || fail "namespaces left: $(ls "$netns_dir")"
[[ -z $(mounts_under "$netns_dir") ]] || fail "mounts left: $(mounts_under "$netns_dir")"
table=$(nft list table ip kapsel)
grep -q dnat <<<"$table" && fail "dnat rules left: $table"
grep -qe "10\.213\.$sub\." -e "$leftnet_bridge" <<<"$table" && fail "leftnet's rules left: $table"
pass "50 containers and leftnet removed: no endpoint, namespace, mount or dnat rule left"

stop_daemon TERM
[[ -z $(mounts_under "$E2E_TMP") ]] || fail "mounts left under $E2E_TMP: $(mounts_under "$E2E_TMP")"
[[ -z $(procs_under) ]] || fail "processes left: $(procs_under | xargs -r ps -o pid,args -p)"
# What lib.sh's cleanup removes when the host had neither: the default bridge and the table.
[[ $HAD_NFT -eq 1 ]] || nft delete table ip kapsel
[[ $HAD_BRIDGE -eq 1 ]] || ip link del kapsel0 2>/dev/null || true
links_after=$(links)
addrs_after=$(addrs)
if grep -qE '^(kv|kb)' <<<"$links_after"; then
  fail "links left: $(grep -E '^(kv|kb)' <<<"$links_after")"
fi
[[ $links_after == "$links_before" ]] ||
  fail "links differ: $(diff <(echo "$links_before") <(echo "$links_after"))"
[[ $addrs_after == "$addrs_before" ]] ||
  fail "addresses differ: $(diff <(echo "$addrs_before") <(echo "$addrs_after"))"
if [[ $HAD_NFT -eq 1 ]]; then
  nft_now=$(ruleset_without_kapsel)
  [[ $nft_now == "$nft_before_rest" ]] ||
    fail "nft ruleset differs: $(diff <(echo "$nft_before_rest") <(echo "$nft_now"))"
else
  nft_now=$(nft list ruleset)
  [[ $nft_now == "$nft_before" ]] ||
    fail "nft ruleset differs: $(diff <(echo "$nft_before") <(echo "$nft_now"))"
fi
pass "50 containers and $kills kill -9 later: links, addresses and nft ruleset as before" \
  "($(wc -l <<<"$links_before") links, $(wc -l <<<"$addrs_before") addresses," \
  "$(wc -l <<<"$nft_before") ruleset lines)"
