#!/usr/bin/python3
"""Wraps a rootfs tar into a one-layer OCI image archive (image layout in a tar) that
`ctr images import` and `podman load` take, with PATH set and the name in the index."""
import gzip, hashlib, io, json, sys, tarfile

def main():
    rootfs_tar, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
    raw = open(rootfs_tar, "rb").read()
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    layer = gzip.compress(raw, compresslevel=1, mtime=0)
    blobs = {}
    def add(data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(add(config), mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(add(layer), mediaType="application/vnd.oci.image.layer.v1.tar+gzip")],
    }).encode()
    index = json.dumps({
        "schemaVersion": 2,
        "manifests": [dict(add(manifest), mediaType="application/vnd.oci.image.manifest.v1+json",
                           annotations={"io.containerd.image.name": name,
                                        "org.opencontainers.image.ref.name": name.split(":")[-1]},
                           platform={"architecture": "amd64", "os": "linux"})]}).encode()
    with tarfile.open(out, "w") as tar:
        def put(path, data):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        put("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        put("index.json", index)
        for digest, data in blobs.items():
            put("blobs/sha256/" + digest.split(":")[1], data)

main()
