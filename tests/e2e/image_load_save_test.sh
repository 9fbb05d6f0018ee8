#!/bin/bash
# load of a 3-layer OCI image layout (whiteout + opaque directory) as a directory and as a tar,
# and of a docker-save archive, save then load with identical digests (and skopeo reading the
# save when it is installed), rmi refused while a container uses the image, prune and the startup
# sweep freeing layer dirs.
# The archives are built here with tar(1); kapsel itself reads them with libarchive.
source "$(dirname "$0")/lib.sh"
start_daemon

DATA=$E2E_TMP/data
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# Layers and blobs of the built-in busybox image, which stays throughout.
layers_before=$(ls -A "$DATA/layers")
blobs_before=$(ls -A "$DATA/blobs/sha256")

# --- the layers: busybox (gzip), then /data and /etc/gone, then a whiteout and an opaque /data.
B=$E2E_TMP/build
mkdir -p "$B/l2/data" "$B/l2/etc" "$B/l3/data" "$B/l3/etc"
"$FIXTURES/make-busybox-rootfs.sh" "$B/l1.tar.gz"
echo old >"$B/l2/data/old"
echo gone >"$B/l2/etc/gone"
echo new >"$B/l3/data/new"
: >"$B/l3/data/.wh..wh..opq"
: >"$B/l3/etc/.wh.gone"
tar -C "$B/l2" --numeric-owner -cf "$B/l2.tar" .
tar -C "$B/l3" --numeric-owner -cf "$B/l3.tar" .
gzip -dc "$B/l1.tar.gz" >"$B/l1.tar"
diff1=$(sha "$B/l1.tar") diff2=$(sha "$B/l2.tar") diff3=$(sha "$B/l3.tar")
printf '{"architecture":"amd64","os":"linux","created":"2024-05-06T07:08:09Z","config":{"Cmd":["sh"],"Env":["PATH=/bin:/usr/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s","sha256:%s"]}}' \
  "$diff1" "$diff2" "$diff3" >"$B/config.json"

# --- an OCI image layout, tagged twice.
L=$B/oci
mkdir -p "$L/blobs/sha256"
for f in l1.tar.gz l2.tar l3.tar config.json; do cp "$B/$f" "$L/blobs/sha256/$(sha "$B/$f")"; done
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
  "$(sha "$B/config.json")" "$(size "$B/config.json")" "$(sha "$B/l1.tar.gz")" "$(size "$B/l1.tar.gz")" \
  "$(sha "$B/l2.tar")" "$(size "$B/l2.tar")" "$(sha "$B/l3.tar")" "$(size "$B/l3.tar")" >"$B/manifest.json"
manifest=$(sha "$B/manifest.json")
cp "$B/manifest.json" "$L/blobs/sha256/$manifest"
echo '{"imageLayoutVersion":"1.0.0"}' >"$L/oci-layout"
desc='{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'$manifest'","size":'$(size "$B/manifest.json")
printf '{"schemaVersion":2,"manifests":[%s,"annotations":{"org.opencontainers.image.ref.name":"oci3:1"}},%s,"annotations":{"org.opencontainers.image.ref.name":"oci3:extra"}}]}' \
  "$desc" "$desc" >"$L/index.json"
tar -C "$L" -cf "$B/oci.tar" .

# The layout directory itself: kapselctl streams a tar of it, the daemon never opens it.
capture kctl load -i "$L"
[[ $RC -eq 0 ]] || fail "load of the OCI layout directory: rc=$RC $ERR"
[[ $OUT == $'Loaded image: oci3:1\nLoaded image: oci3:extra' ]] || fail "load of the directory printed '$OUT'"
image_id=sha256:$(sha "$B/config.json")
kctl images --no-trunc | grep -q "^oci3 *1 *$image_id" || fail "images: $(kctl images --no-trunc)"
[[ $(ls -A "$DATA/layers" | wc -l) -eq $(($(wc -w <<<"$layers_before") + 3)) ]] ||
  fail "want 3 new layer dirs: $(ls -A "$DATA/layers")"
capture kctl run --rm oci3:extra sh -c 'ls /data; cat /etc/fixture-marker'
[[ $RC -eq 0 && $OUT == $'new\nfixture' ]] || fail "run from the loaded directory: rc=$RC out='$OUT' err='$ERR'"
pass "load of a 3-layer OCI layout directory, run from it"

capture kctl load -i "$B/oci.tar"
[[ $RC -eq 0 ]] || fail "load of the OCI layout: rc=$RC $ERR"
[[ $OUT == $'Loaded image: oci3:1\nLoaded image: oci3:extra' ]] || fail "load printed '$OUT'"
kctl images --no-trunc | grep -q "^oci3 *1 *$image_id" || fail "images: $(kctl images --no-trunc)"
[[ $(ls -A "$DATA/layers" | wc -l) -eq $(($(wc -w <<<"$layers_before") + 3)) ]] ||
  fail "the tar of the same layout added layer dirs: $(ls -A "$DATA/layers")"
pass "load of a 3-layer OCI layout tar, two tags, the same image as from the directory"

# A layout whose blob is a symlink within the directory loads; one leaving it, a FIFO and a
# dangling symlink are refused before anything reaches the daemon.
blobs_loaded=$(ls -A "$DATA/blobs/sha256")
L2=$B/oci-links
cp -a "$L" "$L2"
mkdir "$L2/stash"
mv "$L2/blobs/sha256/$diff2" "$L2/stash/l2"
ln -s ../../stash/l2 "$L2/blobs/sha256/$diff2"
capture kctl load -q -i "$L2"
[[ $RC -eq 0 && -z $OUT ]] || fail "a layout with an inner symlink: rc=$RC out='$OUT' err='$ERR'"
rm "$L2/blobs/sha256/$diff2"
ln -s /etc/passwd "$L2/blobs/sha256/$diff2"
capture kctl load -i "$L2"
[[ $RC -eq 125 && $ERR == *"symlink blobs/sha256/$diff2 -> /etc/passwd leaves the directory"* ]] ||
  fail "a symlink out of the layout: rc=$RC err='$ERR'"
rm "$L2/blobs/sha256/$diff2"
ln -s ../../nowhere "$L2/blobs/sha256/$diff2"
capture kctl load -i "$L2"
[[ $RC -eq 125 && $ERR == *"blobs/sha256/$diff2"*"does not resolve"* ]] || fail "a dangling symlink: rc=$RC err='$ERR'"
mv "$L2/stash/l2" "$L2/blobs/sha256/$diff2"
mkfifo "$L2/stash/fifo"
capture kctl load -i "$L2"
[[ $RC -eq 125 && $ERR == *"stash/fifo is neither a regular file, a directory nor a symlink"* ]] ||
  fail "a FIFO in the layout: rc=$RC err='$ERR'"
[[ $(ls -A "$DATA/blobs/sha256") == "$blobs_loaded" ]] || fail "a refused directory left blobs"
[[ -z $(ls -A "$DATA/tmp" 2>/dev/null) ]] || fail "a refused directory left spool files: $(ls -A "$DATA/tmp")"
pass "a layout directory: inner symlinks kept; symlinks out, dangling ones and FIFOs refused"

capture kctl run --rm oci3:1 sh -c 'ls /data; [ -e /etc/gone ] && echo present || echo hidden; cat /etc/fixture-marker'
[[ $RC -eq 0 && $OUT == $'new\nhidden\nfixture' ]] || fail "whiteout and opaque dir: rc=$RC out='$OUT' err='$ERR'"
pass "the container sees the whiteout and the opaque directory applied"

capture kctl inspect oci3:1
[[ $RC -eq 0 ]] || fail "inspect image: rc=$RC $ERR"
grep -q "\"id\": \"$image_id\"" <<<"$OUT" || fail "inspect: $OUT"
grep -q "sha256:$diff3" <<<"$OUT" || fail "inspect lacks the diff ids: $OUT"
pass "inspect IMAGE"

# --- a docker save archive (legacy layout: <dir>/layer.tar, a symlinked duplicate layer).
D=$B/docker
mkdir -p "$D/a" "$D/b" "$D/c"
cp "$B/l1.tar" "$D/a/layer.tar"
cp "$B/l2.tar" "$D/b/layer.tar"
ln -s ../b/layer.tar "$D/c/layer.tar"
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["cat","/data/old"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s","sha256:%s"]}}' \
  "$diff1" "$diff2" "$diff2" >"$B/dconfig.json"
dconfig=$(sha "$B/dconfig.json")
cp "$B/dconfig.json" "$D/$dconfig.json"
printf '[{"Config":"%s.json","RepoTags":["docker.io/library/dock:1"],"Layers":["a/layer.tar","b/layer.tar","c/layer.tar"]}]' \
  "$dconfig" >"$D/manifest.json"
tar -C "$D" -cf "$B/docker.tar" .
capture kctl load <"$B/docker.tar"
[[ $RC -eq 0 && $OUT == 'Loaded image: dock:1' ]] || fail "load of the docker archive: rc=$RC out='$OUT' err='$ERR'"
capture kctl run --rm dock:1
[[ $RC -eq 0 && $OUT == old ]] || fail "run dock:1: rc=$RC out='$OUT' err='$ERR'"
pass "load of a docker-save archive from stdin"

capture kctl load -i "$B/l2.tar"
[[ $RC -eq 125 && $ERR == *"neither an OCI image layout"* ]] || fail "a plain tar: rc=$RC err='$ERR'"
pass "a tar that is no image archive is refused"

# --- save, then load into an empty daemon: every digest the same.
capture kctl save oci3:1 -o "$B/saved.tar"
[[ $RC -eq 0 ]] || fail "save: rc=$RC $ERR"
tar -xOf "$B/saved.tar" index.json | grep -q "sha256:$manifest" || fail "saved index: $(tar -xOf "$B/saved.tar" index.json)"
for f in l1.tar.gz l2.tar l3.tar config.json; do
  tar -tf "$B/saved.tar" | grep -qx "blobs/sha256/$(sha "$B/$f")" || fail "saved archive lacks $f"
done
if command -v skopeo >/dev/null; then
  skopeo --insecure-policy copy "oci-archive:$B/saved.tar" "oci:$B/skopeo:copy" >/dev/null ||
    fail "skopeo cannot read the saved archive"
  tar -C "$B/skopeo" -cf "$B/skopeo.tar" .
  pass "skopeo reads the saved archive"
else
  echo "note: skopeo not installed, skipping the skopeo check"
fi
stop_daemon
mv "$DATA" "$E2E_TMP/data.first"
start_daemon
layers_before=$(ls -A "$DATA/layers")
blobs_before=$(ls -A "$DATA/blobs/sha256")
capture kctl load -i "$B/saved.tar"
[[ $RC -eq 0 && $OUT == 'Loaded image: oci3:1' ]] || fail "load of the saved archive: rc=$RC out='$OUT' err='$ERR'"
kctl images --no-trunc | grep -q "^oci3 *1 *$image_id" || fail "round trip changed the id: $(kctl images --no-trunc)"
capture kctl save oci3:1 -o "$B/saved2.tar"
cmp -s <(tar -xOf "$B/saved.tar" index.json) <(tar -xOf "$B/saved2.tar" index.json) ||
  fail "the second save differs"
if [[ -f $B/skopeo.tar ]]; then
  capture kctl load -i "$B/skopeo.tar"
  [[ $RC -eq 0 && $OUT == 'Loaded image: copy:latest' ]] || fail "load of skopeo's layout: rc=$RC out='$OUT' err='$ERR'"
  kctl images --no-trunc | grep -q "^copy *latest *$image_id" || fail "skopeo copy changed the id"
fi
capture kctl run --rm oci3:1 cat /data/new
[[ $OUT == new ]] || fail "run after the round trip: '$OUT' $ERR"
pass "save then load keeps the image id, layer and manifest digests"
[[ -f $B/skopeo.tar ]] && kctl rmi copy:latest >/dev/null

# --- tag, rmi of one tag, rmi refused while a container uses the image.
kctl tag oci3:1 other:2 || fail "tag"
capture kctl rmi other:2
[[ $RC -eq 0 && $OUT == 'Untagged: other:2' ]] || fail "rmi of one of two tags: rc=$RC out='$OUT'"
kctl create --name user oci3:1 true >/dev/null || fail "create"
capture kctl rmi oci3:1
[[ $RC -eq 125 && $ERR == *"must be forced"*"uses it"* ]] || fail "rmi of a used image: rc=$RC err='$ERR'"
kctl images | grep -q '^oci3 ' || fail "the refused rmi removed the tag"
capture kctl rmi -f oci3:1
[[ $RC -eq 0 && $OUT == 'Untagged: oci3:1' ]] || fail "rmi -f: rc=$RC out='$OUT' err='$ERR'"
kctl start user >/dev/null || fail "start after rmi -f"
capture kctl wait user
[[ $RC -eq 0 && $OUT == 0 ]] || fail "the container lost its image layers: rc=$RC out='$OUT' $ERR"
pass "tag, rmi of one tag, rmi refused while used, -f only untags"

# --- prune frees the layers once the container is gone.
capture kctl image prune
[[ $OUT == *"Total reclaimed space: 0B"* ]] || fail "prune freed a used image: '$OUT'"
kctl rm user >/dev/null
capture kctl image prune
[[ $RC -eq 0 && $OUT == *"deleted: $image_id"* ]] || fail "prune: rc=$RC out='$OUT' err='$ERR'"
[[ $(ls -A "$DATA/layers") == "$layers_before" ]] || fail "layer dirs left: $(ls -A "$DATA/layers")"
[[ $(ls -A "$DATA/blobs/sha256") == "$blobs_before" ]] || fail "blobs left: $(ls -A "$DATA/blobs/sha256")"
pass "prune frees layer dirs and blobs"

# --- a crash between a commit and the file removals: the startup sweep.
stop_daemon KILL
mkdir -p "$DATA/layers/.tmp-crash" "$DATA/layers/$(printf '%064d' 7)"
echo partial >"$DATA/blobs/sha256/$(printf '%064d' 8)"
start_daemon
[[ $(ls -A "$DATA/layers") == "$layers_before" ]] || fail "sweep left: $(ls -A "$DATA/layers")"
[[ $(ls -A "$DATA/blobs/sha256") == "$blobs_before" ]] || fail "sweep left blobs"
capture kctl run --rm busybox true
[[ $RC -eq 0 ]] || fail "busybox after the sweep: $ERR"
pass "startup sweep of orphaned layer dirs and blobs"
