#!/bin/bash
# kapselctl pull against real registries on loopback: Debian's docker-registry (distribution 2.8)
# started here with its own config and storage, images pushed into it with skopeo from OCI
# layouts built here. Covers: a pull with per-layer progress and a run of the image, a second pull
# that fetches nothing, a pull by digest, an unknown manifest, a manifest list (linux/amd64 by
# default, --platform linux/arm64), a registry behind bearer-token auth (pull_token_server.py:
# anonymous tokens, a login from $DOCKER_CONFIG/config.json, 401 without one, a wrong password),
# a registry at [::1] (an IPv6 literal, loopback so plain HTTP), a pull interrupted by a missing
# blob and resumed, a pull interrupted by kill -9 of kapseld and resumed after the restart
# (pull_stall_proxy.py), a corrupted blob (digest mismatch, nothing stored) and plain HTTP to a
# non-loopback address (refused unless --insecure-registry).
source "$(dirname "$0")/lib.sh"

for tool in docker-registry skopeo openssl; do
  command -v "$tool" >/dev/null || { echo "SKIP: needs $tool (deploy/install-deps.sh)"; exit 77; }
done
/usr/bin/python3 -c 'import jwt, cryptography' 2>/dev/null ||
  { echo "SKIP: needs python3-jwt and python3-cryptography (deploy/install-deps.sh)"; exit 77; }

# Registries and the token server are ours to stop, before lib.sh's cleanup.
HELPER_PIDS=()
stop_helpers() {
  local p
  for p in "${HELPER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  HELPER_PIDS=()
}
trap 'rc=$?; set +e; stop_helpers; (exit $rc); cleanup' EXIT

# No login of whoever runs the test may leak in.
export DOCKER_CONFIG=$E2E_TMP/docker-config-none
DATA=$E2E_TMP/data
R=$E2E_TMP/registry
B=$E2E_TMP/build
mkdir -p "$R" "$B"

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {  # PORT WHAT [HOST]
  local host=${3:-127.0.0.1}
  for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null && return 0; sleep 0.05; done
  fail "nothing listens on $host port $1 ($2)"
}

# start_registry NAME PORT [YAML]: docker-registry on 127.0.0.1:PORT (on $LISTEN_HOST, a
# loopback address, when set), storage in $R/NAME (or $STORAGE_DIR), no blob descriptor
# cache (so a blob removed from the storage is gone at once). Not REGISTRY_*: docker-registry
# reads those from its environment as configuration.
start_registry() {
  local name=$1 port=$2 host=${LISTEN_HOST:-127.0.0.1} addr
  addr=$host:$port
  [[ $host == *:* ]] && addr="[$host]:$port"
  cat >"$R/$name.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: ${STORAGE_DIR:-$R/$name}
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: "$addr"
  secret: kapsel-e2e
${3:-}
EOF
  docker-registry serve "$R/$name.yml" >>"$R/$name.log" 2>&1 &
  HELPER_PIDS+=($!)
  wait_port "$port" "docker-registry $name" "$host"
}

# --- OCI layouts: make_image NAME LAYOUT ARCH LAYER... writes the config ($B/NAME.config.json)
# and manifest blobs and prints the manifest's descriptor (with its platform); set_index LAYOUT TAG
# DESCRIPTOR writes index.json.
make_image() {
  local name=$1 layout=$2 arch=$3 diffs="" layers="" l diff type
  shift 3
  mkdir -p "$layout/blobs/sha256"
  for l in "$@"; do
    cp "$l" "$layout/blobs/sha256/$(sha "$l")"
    if [[ $l == *.gz ]]; then diff=$(gzip -dc "$l" | sha256sum | cut -d' ' -f1); type=tar+gzip; else diff=$(sha "$l"); type=tar; fi
    diffs+="${diffs:+,}\"sha256:$diff\""
    layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.$type\",\"digest\":\"sha256:$(sha "$l")\",\"size\":$(size "$l")}"
  done
  local cfg=$B/$name.config.json man=$B/$name.manifest.json
  printf '{"architecture":"%s","os":"linux","created":"2026-01-02T03:04:05Z","config":{"Cmd":["sh"],"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$arch" "$diffs" >"$cfg"
  cp "$cfg" "$layout/blobs/sha256/$(sha "$cfg")"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[%s]}' \
    "$(sha "$cfg")" "$(size "$cfg")" "$layers" >"$man"
  cp "$man" "$layout/blobs/sha256/$(sha "$man")"
  printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"platform":{"architecture":"%s","os":"linux"}}' \
    "$(sha "$man")" "$(size "$man")" "$arch"
}
set_index() {
  echo '{"imageLayoutVersion":"1.0.0"}' >"$1/oci-layout"
  printf '{"schemaVersion":2,"manifests":[%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' "${3%\}}" "$2" >"$1/index.json"
}
config_id() { [[ -f $B/$1.config.json ]] || fail "no config $1"; echo "sha256:$(sha "$B/$1.config.json")"; }
# push LAYOUT TAG DEST [skopeo flags...]
push() {
  local layout=$1 tag=$2 dest=$3
  shift 3
  skopeo --insecure-policy copy --dest-tls-verify=false "$@" "oci:$layout:$tag" "docker://$dest" >/dev/null ||
    fail "skopeo could not push $dest"
}
# The layer digests of DEST as the registry holds them (skopeo compresses plain tar layers).
registry_layers() {
  skopeo inspect --raw --tls-verify=false "$@" |
    /usr/bin/python3 -c 'import json,sys; print(" ".join(l["digest"] for l in json.load(sys.stdin)["layers"]))'
}
# layer_file DIR FILE TEXT OUT: a one-file layer tar.
layer_file() {
  mkdir -p "$B/$1/$(dirname "$2")"
  printf '%s\n' "$3" >"$B/$1/$2"
  tar -C "$B/$1" --numeric-owner -cf "$4" .
}
blob_gets() { grep -c "\"GET /v2/$1/blobs/$2 HTTP" "$R/plain.log" || true; }
short() { echo "${1#sha256:}" | cut -c1-12; }

start_daemon
PORT=$(free_port)
start_registry plain "$PORT"
REG=127.0.0.1:$PORT

"$FIXTURES/make-busybox-rootfs.sh" "$B/busybox.tar.gz"
layer_file app app/hello "hello from the registry" "$B/app.tar"
desc=$(make_image plain "$B/plain" amd64 "$B/busybox.tar.gz" "$B/app.tar")
set_index "$B/plain" 1 "$desc"
plain_id=$(config_id plain)
push "$B/plain" 1 "$REG/plain/app:1"
read -r bb_blob app_blob <<<"$(registry_layers "docker://$REG/plain/app:1")"

# --- a pull with progress, then a run of the image.
capture kctl pull "$REG/plain/app:1"
[[ $RC -eq 0 ]] || fail "pull: rc=$RC out='$OUT' err='$ERR'"
echo "--- kapselctl pull $REG/plain/app:1"
echo "$OUT"
grep -q "^$(short "$bb_blob"): Pull complete" <<<"$OUT" || fail "no progress for the busybox layer: $OUT"
grep -q "^$(short "$app_blob"): Pull complete" <<<"$OUT" || fail "no progress for the app layer: $OUT"
grep -qx "Image ID: $plain_id" <<<"$OUT" || fail "pull did not print the image id $plain_id: $OUT"
manifest_digest=$(sed -n 's/^Digest: //p' <<<"$OUT")
[[ $manifest_digest == sha256:* ]] || fail "no Digest line: $OUT"
kctl images --no-trunc | grep -q "^$REG/plain/app *1 *$plain_id" || fail "images: $(kctl images --no-trunc)"
capture kctl run --rm "$REG/plain/app:1" cat /app/hello
[[ $RC -eq 0 && $OUT == "hello from the registry" ]] || fail "run of the pulled image: rc=$RC out='$OUT' err='$ERR'"
pass "pull from a loopback registry over plain HTTP, per-layer progress, run"

# --- again: every layer is there already, no blob is fetched.
gets_before=$(blob_gets plain/app "$app_blob")
capture kctl pull "$REG/plain/app:1"
[[ $RC -eq 0 ]] || fail "second pull: rc=$RC err='$ERR'"
[[ $(grep -c ": Already exists" <<<"$OUT") -eq 2 ]] || fail "second pull fetched layers: $OUT"
[[ $(blob_gets plain/app "$app_blob") -eq $gets_before ]] || fail "second pull fetched the app layer"
pass "a second pull fetches no layer"

# --- a registry named by an IPv6 literal: docker-registry on [::1] (loopback, so plain HTTP),
# serving the storage of the first one.
if grep -q ' lo$' /proc/net/if_inet6 2>/dev/null &&
  PORT6=$(/usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0)); print(s.getsockname()[1])' 2>/dev/null); then
  layer_file v6 v6/hello "hello over IPv6" "$B/v6.tar"
  desc=$(make_image v6 "$B/v6" amd64 "$B/busybox.tar.gz" "$B/v6.tar")
  set_index "$B/v6" 1 "$desc"
  push "$B/v6" 1 "$REG/v6/app:1"
  read -r _ v6_blob <<<"$(registry_layers "docker://$REG/v6/app:1")"
  LISTEN_HOST=::1 STORAGE_DIR=$R/plain start_registry v6 "$PORT6"
  capture kctl pull "[::1]:$PORT6/v6/app:1"
  [[ $RC -eq 0 ]] || fail "pull from [::1]:$PORT6: rc=$RC out='$OUT' err='$ERR'"
  echo "--- kapselctl pull [::1]:$PORT6/v6/app:1"
  echo "$OUT"
  grep -q "^$(short "$v6_blob"): Pull complete" <<<"$OUT" || fail "no progress for the v6 layer: $OUT"
  grep -q "\"GET /v2/v6/app/blobs/$v6_blob HTTP" "$R/v6.log" || fail "the layer did not come from [::1]"
  kctl images | grep -q "^\[::1\]:$PORT6/v6/app *1 " || fail "images: $(kctl images)"
  capture kctl run --rm "[::1]:$PORT6/v6/app:1" cat /v6/hello
  [[ $RC -eq 0 && $OUT == "hello over IPv6" ]] || fail "run of the [::1] image: rc=$RC out='$OUT' err='$ERR'"
  pass "pull from a registry at [::1]:PORT over plain HTTP (loopback), tag and run"
else
  echo "note: no IPv6 on lo, skipping the [::1] registry"
fi

capture kctl pull -q "$REG/plain/app@$manifest_digest"
[[ $RC -eq 0 && $OUT == "$plain_id" ]] || fail "pull by digest: rc=$RC out='$OUT' err='$ERR'"
pass "pull by digest"

capture kctl pull "$REG/plain/app:nope"
[[ $RC -eq 125 && $ERR == *"$REG/plain/app:nope"*"manifest unknown"* ]] || fail "unknown tag: rc=$RC err='$ERR'"
capture kctl pull "$REG/nosuch/repo"
[[ $RC -eq 125 && $ERR == *"$REG/nosuch/repo:latest"*"manifest unknown"* ]] || fail "unknown repository: rc=$RC err='$ERR'"
# The daemon's request log has the status code: 5 is NOT_FOUND.
grep -q "Images/Pull .*code 5: pull $REG/nosuch/repo" "$E2E_TMP/kapseld.log" || fail "unknown repository: not NOT_FOUND"
pass "an unknown manifest or repository is NOT_FOUND naming the reference"

# --- a manifest list: linux/amd64 by default, --platform linux/arm64 gets the other image.
layer_file amd64 platform amd64 "$B/amd64.tar"
layer_file arm64 platform arm64 "$B/arm64.tar"
amd_desc=$(make_image amd64 "$B/multi" amd64 "$B/busybox.tar.gz" "$B/amd64.tar")
amd_id=$(config_id amd64)
arm_desc=$(make_image arm64 "$B/multi" arm64 "$B/arm64.tar")
arm_id=$(config_id arm64)
[[ $amd_id != "$arm_id" && $amd_id != "$plain_id" ]] || fail "the test images are not distinct"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,%s]}' \
  "$arm_desc" "$amd_desc" >"$B/index.json"
cp "$B/index.json" "$B/multi/blobs/sha256/$(sha "$B/index.json")"
set_index "$B/multi" 1 "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"sha256:$(sha "$B/index.json")\",\"size\":$(size "$B/index.json")}"
push "$B/multi" 1 "$REG/multi/app:1" --all
capture kctl pull "$REG/multi/app:1"
[[ $RC -eq 0 && $OUT == *"Image ID: $amd_id"* && $OUT == *"(linux/amd64)"* ]] || fail "pull of the manifest list: rc=$RC out='$OUT' err='$ERR'"
capture kctl run --rm "$REG/multi/app:1" cat /platform
[[ $RC -eq 0 && $OUT == amd64 ]] || fail "the amd64 image was not chosen: rc=$RC out='$OUT' err='$ERR'"
capture kctl pull --platform linux/arm64 "$REG/multi/app:1"
[[ $RC -eq 0 && $OUT == *"Image ID: $arm_id"* && $OUT == *"(linux/arm64)"* ]] || fail "pull --platform linux/arm64: rc=$RC out='$OUT' err='$ERR'"
echo "--- kapselctl pull --platform linux/arm64 $REG/multi/app:1"
echo "$OUT"
kctl inspect "$REG/multi/app:1" | grep -q "sha256:$(sha "$B/arm64.tar")" || fail "the tag does not name the arm64 image"
capture kctl pull --platform linux/s390x "$REG/multi/app:1"
[[ $RC -eq 125 && $ERR == *"no manifest for linux/s390x"*"linux/arm64"*"linux/amd64"* ]] || fail "a platform the list lacks: rc=$RC err='$ERR'"
pass "a manifest list: linux/amd64 by default, --platform linux/arm64, a missing platform named"

# --- bearer tokens: docker-registry with token auth, tokens from pull_token_server.py.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$R/token.key" -out "$R/token.crt" -days 2 \
  -subj /CN=kapsel-e2e-token >/dev/null 2>&1 || fail "openssl could not make the token key"
/usr/bin/python3 "$(dirname "$0")/pull_token_server.py" "$R/token.port" "$R/token.key" "$R/token.crt" \
  kapsel-e2e-issuer kapsel:s3cret "$R/token.log" >>"$R/token.out" 2>&1 &
HELPER_PIDS+=($!)
for _ in $(seq 1 100); do [[ -s $R/token.port ]] && break; sleep 0.05; done
TOKEN_PORT=$(cat "$R/token.port" 2>/dev/null) || fail "the token server did not start: $(cat "$R/token.out")"
SECURE_PORT=$(free_port)
start_registry secure "$SECURE_PORT" "auth:
  token:
    realm: http://127.0.0.1:$TOKEN_PORT/token
    service: kapsel-e2e-registry
    issuer: kapsel-e2e-issuer
    rootcertbundle: $R/token.crt"
SREG=127.0.0.1:$SECURE_PORT
push "$B/plain" 1 "$SREG/public/app:1" --dest-creds kapsel:s3cret
push "$B/plain" 1 "$SREG/private/app:1" --dest-creds kapsel:s3cret
: >"$R/token.log"

capture kctl pull -q "$SREG/public/app:1"
[[ $RC -eq 0 && $OUT == "$plain_id" ]] || fail "anonymous pull with a bearer token: rc=$RC out='$OUT' err='$ERR'"
grep -q '"scope": \["repository:public/app:pull"\], "service": "kapsel-e2e-registry", "auth": "anonymous"' "$R/token.log" ||
  fail "no anonymous token for repository:public/app:pull: $(cat "$R/token.log")"
pass "anonymous pull through the bearer-token dance"

capture kctl pull "$SREG/private/app:1"
[[ $RC -eq 125 && $ERR == *"authentication required"* ]] || fail "private repository without a login: rc=$RC err='$ERR'"
grep -q "Images/Pull .*code 16: pull $SREG/private/app:1" "$E2E_TMP/kapseld.log" || fail "401: not UNAUTHENTICATED"
pass "401 without credentials: UNAUTHENTICATED with the registry's message"

mkdir -p "$E2E_TMP/docker-config"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$SREG" "$(printf 'kapsel:s3cret' | base64)" >"$E2E_TMP/docker-config/config.json"
capture env DOCKER_CONFIG="$E2E_TMP/docker-config" "$KAPSELCTL" pull -q "$SREG/private/app:1"
[[ $RC -eq 0 && $OUT == "$plain_id" ]] || fail "pull with a login from config.json: rc=$RC out='$OUT' err='$ERR'"
grep -q '"scope": \["repository:private/app:pull"\], "service": "kapsel-e2e-registry", "auth": "user"' "$R/token.log" ||
  fail "the login did not reach the token service: $(cat "$R/token.log")"
printf '{"auths":{"http://%s/v2/":{"auth":"%s"}}}' "$SREG" "$(printf 'kapsel:wrong' | base64)" >"$E2E_TMP/docker-config/config.json"
capture env DOCKER_CONFIG="$E2E_TMP/docker-config" "$KAPSELCTL" pull "$SREG/private/app:1"
[[ $RC -eq 125 && $ERR == *"incorrect username or password"* ]] || fail "a wrong password: rc=$RC err='$ERR'"
pass "a login from \$DOCKER_CONFIG/config.json; a wrong password refused with the token service's message"

# --- an interrupted pull resumes: the second layer's blob is missing from the registry, the
# first is downloaded and kept; once the blob is back only the second is fetched.
mkdir -p "$B/r1"
head -c 300000 /dev/urandom >"$B/r1/big"
tar -C "$B/r1" -cf "$B/r1.tar" .
layer_file r2 r2 "second layer" "$B/r2.tar"
desc=$(make_image resume "$B/resume" amd64 "$B/r1.tar" "$B/r2.tar")
set_index "$B/resume" 1 "$desc"
push "$B/resume" 1 "$REG/resume/app:1"
read -r r1_blob r2_blob <<<"$(registry_layers "docker://$REG/resume/app:1")"
r2_dir=$R/plain/docker/registry/v2/blobs/sha256/${r2_blob:7:2}/${r2_blob#sha256:}
mv "$r2_dir" "$r2_dir.away"
capture kctl pull "$REG/resume/app:1"
[[ $RC -eq 125 && $ERR == *"$r2_blob"*"blob unknown"* ]] || fail "pull with a missing blob: rc=$RC err='$ERR'"
[[ -f $DATA/blobs/sha256/${r1_blob#sha256:} ]] || fail "the verified first layer was not kept"
kctl images | grep -q resume/app && fail "a failed pull made an image"
mv "$r2_dir.away" "$r2_dir"
capture kctl pull "$REG/resume/app:1"
[[ $RC -eq 0 ]] || fail "resumed pull: rc=$RC out='$OUT' err='$ERR'"
grep -q "^$(short "$r1_blob"): Already exists" <<<"$OUT" || fail "the first layer was fetched again: $OUT"
grep -q "^$(short "$r2_blob"): Pull complete" <<<"$OUT" || fail "the second layer was not fetched: $OUT"
[[ $(blob_gets resume/app "$r1_blob") -eq 1 ]] || fail "the first layer was downloaded $(blob_gets resume/app "$r1_blob") times"
pass "an interrupted pull resumes from the blobs it verified"

# --- a pull interrupted by a crash of kapseld resumes after the restart: the blobs it verified
# are leased, so the startup sweep keeps them and the next pull does not fetch them again. The
# third layer goes through pull_stall_proxy.py, which stalls its first download half-way: the
# daemon is killed while it waits there, once the other two layers are stored.
mkdir -p "$B/k1" "$B/k2" "$B/k3"
head -c 200000 /dev/urandom >"$B/k1/one"
head -c 200000 /dev/urandom >"$B/k2/two"
head -c 1000000 /dev/urandom >"$B/k3/three"
for l in k1 k2 k3; do tar -C "$B/$l" --numeric-owner -cf "$B/$l.tar" .; done
desc=$(make_image crash "$B/crash" amd64 "$B/busybox.tar.gz" "$B/k1.tar" "$B/k2.tar" "$B/k3.tar")
set_index "$B/crash" 1 "$desc"
push "$B/crash" 1 "$REG/crash/app:1"
read -r _ k1_blob k2_blob k3_blob <<<"$(registry_layers "docker://$REG/crash/app:1")"
/usr/bin/python3 "$(dirname "$0")/pull_stall_proxy.py" "$R/proxy.port" "$PORT" "$k3_blob" \
  "$R/proxy.log" >>"$R/proxy.out" 2>&1 &
HELPER_PIDS+=($!)
for _ in $(seq 1 100); do [[ -s $R/proxy.port ]] && break; sleep 0.05; done
PREG=127.0.0.1:$(cat "$R/proxy.port" 2>/dev/null) || fail "the proxy did not start: $(cat "$R/proxy.out")"
proxy_gets() { grep -c "^GET /v2/crash/app/blobs/$1 200" "$R/proxy.log" || true; }
have_blob() { [[ -f $DATA/blobs/sha256/${1#sha256:} ]]; }

"$KAPSELCTL" pull "$PREG/crash/app:1" >"$E2E_TMP/crash-pull.out" 2>&1 &
pull_pid=$!
for _ in $(seq 1 600); do
  grep -q "^STALLED" "$R/proxy.log" 2>/dev/null && have_blob "$k1_blob" && have_blob "$k2_blob" && break
  kill -0 "$pull_pid" 2>/dev/null || fail "the pull ended early: $(cat "$E2E_TMP/crash-pull.out")"
  sleep 0.05
done
grep -q "^STALLED" "$R/proxy.log" && have_blob "$k1_blob" && have_blob "$k2_blob" ||
  fail "the pull did not reach the stalled layer with the others stored: $(cat "$R/proxy.log")"
have_blob "$k3_blob" && fail "the stalled layer is stored"
stop_daemon KILL
wait "$pull_pid" && fail "the pull survived the daemon: $(cat "$E2E_TMP/crash-pull.out")"
start_daemon
have_blob "$k1_blob" && have_blob "$k2_blob" || fail "the startup sweep removed the verified layers"
grep -q "blob digests leased by interrupted pulls" "$E2E_TMP/kapseld.log" || fail "no lease kept at startup"
capture kctl pull "$PREG/crash/app:1"
[[ $RC -eq 0 ]] || fail "pull after the crash: rc=$RC out='$OUT' err='$ERR'"
echo "--- kapselctl pull $PREG/crash/app:1 after kill -9 of kapseld mid-pull"
echo "$OUT"
for b in "$k1_blob" "$k2_blob"; do
  grep -q "^$(short "$b"): Already exists" <<<"$OUT" || fail "layer $b was fetched again: $OUT"
  [[ $(proxy_gets "$b") -eq 1 ]] || fail "layer $b was downloaded $(proxy_gets "$b") times"
done
grep -q "^$(short "$k3_blob"): Pull complete" <<<"$OUT" || fail "the stalled layer was not fetched: $OUT"
[[ $(proxy_gets "$k3_blob") -eq 2 ]] || fail "the stalled layer: $(proxy_gets "$k3_blob") downloads"
capture kctl run --rm "$PREG/crash/app:1" sh -c 'cat /one /two /three | wc -c'
[[ $RC -eq 0 && $OUT == 1400000 ]] || fail "run of the resumed image: rc=$RC out='$OUT' err='$ERR'"
# The commit released every lease on the image's blobs: removing it frees them at once.
kctl rmi "$PREG/crash/app:1" >/dev/null || fail "rmi of the resumed image"
for b in "$k1_blob" "$k2_blob" "$k3_blob"; do have_blob "$b" && fail "blob $b outlived the image"; done
pass "a pull interrupted by kill -9 of kapseld resumes after the restart without fetching again"

# --- a corrupted blob: same size, other bytes. The pull fails naming the blob; nothing is stored.
layer_file c1 corrupt "this layer will be corrupted" "$B/c1.tar"
desc=$(make_image corrupt "$B/corrupt" amd64 "$B/c1.tar")
set_index "$B/corrupt" 1 "$desc"
push "$B/corrupt" 1 "$REG/corrupt/app:1"
read -r c1_blob <<<"$(registry_layers "docker://$REG/corrupt/app:1")"
c1_data=$R/plain/docker/registry/v2/blobs/sha256/${c1_blob:7:2}/${c1_blob#sha256:}/data
head -c "$(size "$c1_data")" /dev/zero >"$c1_data"
blobs_before=$(ls -A "$DATA/blobs/sha256")
images_before=$(kctl images -q --no-trunc | sort)
capture kctl pull "$REG/corrupt/app:1"
[[ $RC -eq 125 && $ERR == *"blob $c1_blob"*"digest mismatch"* ]] || fail "corrupted blob: rc=$RC err='$ERR'"
echo "--- kapselctl pull of a corrupted blob: $ERR"
[[ $(ls -A "$DATA/blobs/sha256") == "$blobs_before" ]] || fail "a blob was stored: $(ls -A "$DATA/blobs/sha256")"
[[ -z $(ls -A "$DATA/blobs/ingest") ]] || fail "staging files left: $(ls -A "$DATA/blobs/ingest")"
[[ $(kctl images -q --no-trunc | sort) == "$images_before" ]] || fail "an image appeared: $(kctl images)"
pass "a digest mismatch names the blob and stores nothing"

# --- plain HTTP to an address that is not loopback (0.0.0.0 reaches the same registry).
capture kctl pull "0.0.0.0:$PORT/plain/app:1"
[[ $RC -eq 125 && $ERR == *"--insecure-registry 0.0.0.0:$PORT"* ]] || fail "plain HTTP to 0.0.0.0: rc=$RC err='$ERR'"
echo "--- kapselctl pull 0.0.0.0:$PORT/plain/app:1: $ERR"
stop_daemon
start_daemon --insecure-registry "0.0.0.0:$PORT"
capture kctl pull -q "0.0.0.0:$PORT/plain/app:1"
[[ $RC -eq 0 && $OUT == "$plain_id" ]] || fail "pull with --insecure-registry: rc=$RC out='$OUT' err='$ERR'"
pass "plain HTTP to a non-loopback registry only with --insecure-registry"
