#!/bin/bash
# Container networking through the real daemon: the default bridge with a published port answered
# on 127.0.0.1, container-to-container traffic on the bridge, --network none and container:NAME,
# bad input, and no veth or namespace left behind. Traffic goes only to 127.0.0.1 and to the
# containers' own addresses.
source "$(dirname "$0")/lib.sh"
links_before=$(ls /sys/class/net | sort | grep -v '^kapsel0$' | tr '\n' ' ')
start_daemon

inspect_field() {  # inspect_field CONTAINER KEY: the first "KEY": value of inspect's JSON
  kctl inspect --type container "$1" | sed -n "s/.*\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -n1
}
http_get() { curl -sS --max-time 5 "$1"; }

port=$((18080 + RANDOM % 1000))
web=$(kctl run -d --name web -p "127.0.0.1:$port:80" busybox \
  sh -c 'mkdir -p /www && echo hello-from-kapsel > /www/index.html && exec httpd -f -p 80 -h /www')
ip=$(inspect_field web ipAddress)
[[ $ip == 10.213.0.* ]] || fail "no bridge address for web: '$ip'"
body=""
for _ in $(seq 1 50); do body=$(http_get "http://127.0.0.1:$port/" 2>/dev/null) && break; sleep 0.1; done
[[ $body == hello-from-kapsel ]] || fail "published port: got '$body'"
pass "curl http://127.0.0.1:$port/ -> $body (container $ip:80)"

# The container itself: eth0 with its address, a default route via the gateway.
out=$(kctl run --rm busybox sh -c 'ip -4 addr show eth0; ip route')
grep -q "inet 10.213.0." <<<"$out" || fail "no eth0 address: $out"
grep -q "default via 10.213.0.1" <<<"$out" || fail "no default route: $out"
pass "eth0 and default route inside"

# Neighbours on the bridge reach each other.
out=$(kctl run --rm busybox timeout 5 wget -qO- "http://$ip:80/")
[[ $out == hello-from-kapsel ]] || fail "container to container: '$out'"
pass "container to container over kapsel0"

# --network none: only lo, and up.
out=$(kctl run --rm --network none busybox sh -c 'ls /sys/class/net; cat /sys/class/net/lo/operstate')
[[ $(head -n1 <<<"$out") == lo && $(wc -l <<<"$out") -eq 2 ]] || fail "--network none: $out"
pass "--network none has only lo"

# container:NAME shares web's namespace: its localhost is web's.
out=$(kctl run --rm --network container:web busybox timeout 5 wget -qO- http://127.0.0.1:80/)
[[ $out == hello-from-kapsel ]] || fail "container:web: '$out'"
pass "--network container:web shares the namespace"

# A user network: its own bridge and subnet; members reach each other; rm refused while in use.
kctl network create --subnet 10.213.77.0/24 e2enet >/dev/null
kctl network ls | grep -q "e2enet .*10.213.77.0/24" || fail "network ls: $(kctl network ls)"
capture kctl network create --subnet 10.213.77.128/25 other
[[ $RC -ne 0 && $ERR == *overlaps* ]] || fail "overlapping subnet: rc=$RC $ERR"
kctl run -d --name srv --network e2enet busybox \
  sh -c 'mkdir -p /www && echo on-e2enet > /www/index.html && exec httpd -f -p 80 -h /www' >/dev/null
srv_ip=$(inspect_field srv ipAddress)
[[ $srv_ip == 10.213.77.* ]] || fail "no address on e2enet: '$srv_ip'"
out=""
for _ in $(seq 1 20); do
  out=$(kctl run --rm --network e2enet busybox timeout 5 wget -qO- "http://$srv_ip:80/" 2>/dev/null) && break
  sleep 0.1
done
[[ $out == on-e2enet ]] || fail "member to member on e2enet: '$out'"
kctl network inspect e2enet | grep -q "$srv_ip" || fail "network inspect lacks the endpoint"
capture kctl network rm e2enet
[[ $RC -ne 0 && $ERR == *"in use"* ]] || fail "rm of a network in use: rc=$RC $ERR"
kctl rm -f srv >/dev/null
kctl network rm e2enet >/dev/null
[[ -z $(kctl network ls -q | grep e2enet) ]] || fail "e2enet still listed"
pass "user network: create, members talk, rm refused in use, then removed"

# Names on user networks: members find each other by name through /etc/hosts, which follows
# connect, disconnect and rename; --add-host adds lines.
kctl network create --subnet 10.213.78.0/24 names >/dev/null
kctl network create --subnet 10.213.79.0/24 othernet >/dev/null
kctl run -d --name alpha --network names busybox \
  sh -c 'mkdir -p /www && echo i-am-alpha > /www/index.html && exec httpd -f -p 80 -h /www' >/dev/null
alpha_ip=$(inspect_field alpha ipAddress)
out=""
for _ in $(seq 1 20); do
  out=$(kctl run --rm --network names busybox timeout 5 wget -qO- http://alpha/ 2>/dev/null) && break
  sleep 0.1
done
[[ $out == i-am-alpha ]] || fail "GET http://alpha/ from a member of names: '$out'"
pass "a member of names reaches alpha by name ($alpha_ip)"
kctl run -d --name beta --network othernet busybox sleep 300 >/dev/null
if kctl exec beta grep -q alpha /etc/hosts; then fail "beta (othernet) knows alpha's name"; fi
# Isolation between two routed networks is kapsel's nft rules' doing only when the host forwards:
# forwarding is on for this check (and put back as it was).
forward_was=$(cat /proc/sys/net/ipv4/ip_forward)
CLEANUP_CMDS+=("echo $forward_was > /proc/sys/net/ipv4/ip_forward")
echo 1 >/proc/sys/net/ipv4/ip_forward
if kctl exec beta timeout 3 wget -qO- "http://$alpha_ip/" >/dev/null 2>&1; then
  fail "beta on othernet reaches alpha ($alpha_ip) on names"
fi
echo "$forward_was" >/proc/sys/net/ipv4/ip_forward
pass "othernet cannot reach names with the host forwarding"

out=$(kctl network connect names beta 2>&1) || fail "network connect: $out"
out=$(kctl exec beta ip -4 addr show eth1)
grep -q "inet 10.213.78." <<<"$out" || fail "no eth1 on names after connect: $out"
kctl inspect --type container beta | grep -q '"interface": "eth1"' || fail "inspect lacks eth1"
out=$(kctl exec beta timeout 5 wget -qO- http://alpha/) || true
[[ $out == i-am-alpha ]] || fail "beta -> http://alpha/ after connect: '$out'"
kctl exec alpha grep -q beta /etc/hosts || fail "alpha's /etc/hosts lacks beta: $(kctl exec alpha cat /etc/hosts)"
pass "network connect: beta has eth1 on names, reaches alpha by name, alpha knows beta"
kctl rename beta gamma
kctl exec alpha grep -q gamma /etc/hosts || fail "alpha's /etc/hosts lacks the new name gamma"
if kctl exec alpha grep -qw beta /etc/hosts; then fail "alpha's /etc/hosts keeps the old name beta"; fi
pass "rename: the new name reaches the peers' /etc/hosts"
capture kctl network disconnect othernet gamma
[[ $RC -ne 0 && $ERR == *"created on"* ]] || fail "disconnect from the first network: rc=$RC $ERR"
capture kctl network connect names gamma
[[ $RC -ne 0 && $ERR == *"already on network"* ]] || fail "second connect: rc=$RC $ERR"
capture kctl network connect names web
[[ $RC -eq 0 ]] || fail "connect of a default-bridge container: rc=$RC $ERR"
kctl network disconnect names web
kctl network disconnect names gamma
if kctl exec gamma ip link show eth1 >/dev/null 2>&1; then fail "eth1 left in gamma"; fi
if kctl exec gamma timeout 3 wget -qO- http://alpha/ >/dev/null 2>&1; then fail "gamma still resolves alpha"; fi
if kctl exec alpha grep -q gamma /etc/hosts; then fail "alpha's /etc/hosts keeps gamma"; fi
capture kctl network connect names nosuchcontainer
[[ $RC -ne 0 ]] || fail "connect of an unknown container succeeded"
capture kctl network connect nosuchnet gamma
[[ $RC -ne 0 && $ERR == *nosuchnet* ]] || fail "connect to an unknown network: rc=$RC $ERR"
pass "network disconnect: eth1 and the names are gone; bad connects refused"
out=$(kctl run --rm --network names --add-host db.example:10.1.2.3 --add-host gw:host-gateway \
  --add-host v6host:fd00::7 busybox cat /etc/hosts)
grep -q "^10.1.2.3	db.example$" <<<"$out" || fail "--add-host db.example: $out"
grep -q "^10.213.78.1	gw$" <<<"$out" || fail "--add-host gw:host-gateway: $out"
grep -q "^fd00::7	v6host$" <<<"$out" || fail "--add-host IPv6: $out"
grep -q "	alpha " <<<"$out" || fail "the peers' names are missing next to --add-host: $out"
capture kctl run --rm --add-host nocolon busybox true
[[ $RC -eq 125 && $ERR == *"--add-host"* ]] || fail "malformed --add-host: rc=$RC $ERR"
capture kctl run --rm --add-host x:999.1.1.1 busybox true
[[ $RC -eq 125 && $ERR == *"999.1.1.1"* ]] || fail "bad --add-host address: rc=$RC $ERR"
pass "--add-host lines (IPv4, IPv6, host-gateway) and bad values refused"
kctl rm -f alpha gamma >/dev/null
kctl network rm names othernet >/dev/null

# Bad input: clear errors and nothing half-made.
netns_count() { ls "$E2E_TMP/run/netns" 2>/dev/null | wc -l; }
before=$(netns_count)
n_before=$(count_containers)
capture kctl run -d -p 80:abc busybox true
[[ $RC -eq 125 && $ERR == *"80:abc"* ]] || fail "malformed -p: rc=$RC $ERR"
capture kctl run -d -p "127.0.0.1:$port:80" busybox true
[[ $RC -eq 125 && $ERR == *"$port"* ]] || fail "taken host port: rc=$RC $ERR"
capture kctl run -d --network nosuchnet busybox true
[[ $RC -eq 125 && $ERR == *"nosuchnet"* ]] || fail "unknown network: rc=$RC $ERR"
capture kctl run -d --network none -p 8080:80 busybox true
[[ $RC -eq 125 ]] || fail "-p with --network none: rc=$RC $ERR"
[[ $(netns_count) -eq $before && $(count_containers) -eq $n_before ]] ||
  fail "bad input left a namespace or a container behind"
pass "bad input refused, nothing left"

# Removal leaves no veth and no namespace; the published port is free again.
kctl rm -f web >/dev/null
[[ $(netns_count) -eq 0 ]] || fail "namespaces left: $(ls "$E2E_TMP/run/netns")"
links_after=$(ls /sys/class/net | sort | grep -v '^kapsel0$' | tr '\n' ' ')
[[ $links_after == "$links_before" ]] || fail "links before: $links_before after: $links_after"
if http_get "http://127.0.0.1:$port/" >/dev/null 2>&1; then fail "port $port still answers"; fi
pass "no veth, namespace or published port left"
