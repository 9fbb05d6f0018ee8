#!/bin/bash
# --network cni:NAME with Debian's containernetworking-plugins (bridge + host-local): the
# container gets the plugin's address on eth0, two such containers talk over the plugin's bridge,
# removal runs DEL (the address reservation goes), a daemon killed with -9 still DELs at the next
# start, and bad input leaves nothing behind. The list uses isGateway=false and ipMasq=false, so
# the plugins change no host-wide setting; traffic stays between the test's own containers.
source "$(dirname "$0")/lib.sh"
for p in bridge host-local; do
  [[ -x /usr/lib/cni/$p ]] || { echo "SKIP: needs /usr/lib/cni/$p (containernetworking-plugins)"; exit 77; }
done

br=kcni$$
CLEANUP_LINKS+=("$br")
subnet=""
for i in $(seq 200 250); do
  ip -4 -o addr | grep -q " 10\.213\.$i\." || { subnet="10.213.$i.0/24"; break; }
done
[[ -n $subnet ]] || fail "no free 10.213.x.0/24 subnet for the CNI network"
conf=$E2E_TMP/cni-conf
ipam=$E2E_TMP/cni-ipam
mkdir -p "$conf"
cat >"$conf/10-e2e.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "e2ecni",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$br",
      "isGateway": false,
      "ipMasq": false,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$subnet"}]], "dataDir": "$ipam"}
    }
  ]
}
JSON
start_daemon --cni-config-dir "$conf"

inspect_field() {
  kctl inspect --type container "$1" | sed -n "s/.*\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -n1
}
# GET from a fresh container on the CNI network, retried while the server starts.
fetch_over_cni() {
  local body=""
  for _ in $(seq 1 20); do
    body=$(kctl run --rm --network cni:e2ecni busybox timeout 5 wget -qO- "$1" 2>/dev/null) && break
    sleep 0.1
  done
  echo "$body"
}
kctl run -d --name c1 --network cni:e2ecni busybox \
  sh -c 'mkdir -p /www && echo hello-over-cni > /www/index.html && exec httpd -f -p 80 -h /www' >/dev/null
ip1=$(inspect_field c1 ipAddress)
[[ $ip1 == "${subnet%.0/24}".* ]] || fail "c1 has no address from $subnet: '$ip1'"
[[ $(inspect_field c1 mode) == cni ]] || fail "inspect mode is not cni"
kctl exec c1 ip -4 addr show eth0 | grep -q "inet $ip1/24" || fail "eth0 of c1 lacks $ip1/24"
[[ -f $ipam/e2ecni/$ip1 ]] || fail "no host-local reservation for $ip1"
pass "cni:e2ecni gives c1 $ip1/24 on eth0 (host-local reservation in place)"

out=$(fetch_over_cni "http://$ip1/")
[[ $out == hello-over-cni ]] || fail "container to container over the CNI bridge: '$out'"
pass "a second cni:e2ecni container fetches http://$ip1/ -> $out"

# A start of a stopped container CHECKs the attachment; one that lost its eth0 is attached again.
id1=$(inspect_field c1 id)
kctl stop -t 1 c1 >/dev/null
kctl start c1 >/dev/null
[[ $(inspect_field c1 ipAddress) == "$ip1" ]] || fail "c1's address changed at a restart"
kctl stop -t 1 c1 >/dev/null
nsenter --net="$E2E_TMP/run/netns/$id1" ip link del eth0
kctl start c1 >/dev/null
ip1=$(inspect_field c1 ipAddress)
kctl exec c1 ip -4 addr show eth0 | grep -q "inet $ip1/24" || fail "eth0 not back after CHECK failed"
out=$(fetch_over_cni "http://$ip1/")
[[ $out == hello-over-cni ]] || fail "c1 unreachable after being attached again: '$out'"
pass "restart: CHECK passes, the address is kept; with eth0 deleted, CHECK fails and ADD gives $ip1"

kctl rm -f c1 >/dev/null
[[ ! -e $ipam/e2ecni/$ip1 ]] || fail "host-local reservation of $ip1 left after rm"
[[ -z $(ls "$E2E_TMP/data/cni" 2>/dev/null) ]] || fail "CNI cache left: $(ls "$E2E_TMP/data/cni")"
[[ -z $(ls "/sys/class/net/$br/brif" 2>/dev/null) ]] || fail "veths left on $br: $(ls "/sys/class/net/$br/brif")"
pass "rm runs DEL: no reservation, no cached result, no veth on $br"

# A daemon killed with -9; the container removed after the restart still gets its DEL.
kctl run -d --name c2 --network cni:e2ecni busybox sleep 300 >/dev/null
ip2=$(inspect_field c2 ipAddress)
stop_daemon KILL
start_daemon --cni-config-dir "$conf"
[[ $(inspect_field c2 ipAddress) == "$ip2" ]] || fail "c2's address changed across the restart"
kctl rm -f c2 >/dev/null
[[ ! -e $ipam/e2ecni/$ip2 && -z $(ls "/sys/class/net/$br/brif" 2>/dev/null) ]] ||
  fail "c2 left a reservation or a veth after a kill -9 and rm"
pass "after kill -9 of kapseld, rm still runs DEL"

n_before=$(count_containers)
capture kctl run -d --network cni:nosuchcni busybox true
[[ $RC -eq 125 && $ERR == *nosuchcni* ]] || fail "unknown CNI network: rc=$RC $ERR"
capture kctl run -d --network cni:e2ecni -p 8080:80 busybox true
[[ $RC -eq 125 ]] || fail "-p with a CNI network: rc=$RC $ERR"
capture kctl run -d --network cni: busybox true
[[ $RC -eq 125 ]] || fail "--network cni: without a name: rc=$RC $ERR"
sed 's/"bridge",$/"no-such-plugin",/' "$conf/10-e2e.conflist" >"$conf/20-broken.conflist"
sed -i 's/"e2ecni"/"brokencni"/' "$conf/20-broken.conflist"
capture kctl run -d --network cni:brokencni busybox true
[[ $RC -eq 125 && $ERR == *no-such-plugin* ]] || fail "missing plugin: rc=$RC $ERR"
[[ $(count_containers) -eq $n_before && -z $(ls "$E2E_TMP/run/netns" 2>/dev/null) ]] ||
  fail "bad CNI input left a container or a namespace"
pass "unknown CNI network, -p, missing plugin: refused, nothing left"
