#include "store/migrations.h"

namespace kapsel::store {

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration>* const kMigrations = new std::vector<Migration>{
      {1, R"sql(
CREATE TABLE images (
  id          TEXT PRIMARY KEY,          -- sha256:<hex> of the config blob
  config_json TEXT NOT NULL,
  created_at  INTEGER NOT NULL,          -- unix nanoseconds
  size_bytes  INTEGER NOT NULL           -- bytes of unpacked layers
);
CREATE TABLE layers (
  chain_id    TEXT PRIMARY KEY,
  diff_id     TEXT NOT NULL,
  blob_digest TEXT NOT NULL,
  size_bytes  INTEGER NOT NULL           -- bytes unpacked
);
CREATE TABLE image_layers (
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  idx      INTEGER NOT NULL,             -- 0 = bottom layer
  diff_id  TEXT NOT NULL,
  chain_id TEXT NOT NULL REFERENCES layers(chain_id),
  PRIMARY KEY (image_id, idx)
);
CREATE INDEX image_layers_chain_id ON image_layers(chain_id);
CREATE TABLE image_tags (
  name     TEXT NOT NULL,
  tag      TEXT NOT NULL,
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  PRIMARY KEY (name, tag)
);
CREATE INDEX image_tags_image_id ON image_tags(image_id);
CREATE TABLE containers (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL UNIQUE,
  image_ref       TEXT NOT NULL,
  image_id        TEXT NOT NULL,
  state           TEXT NOT NULL
                  CHECK (state IN ('created', 'running', 'paused', 'exited', 'removing')),
  spec_json       TEXT NOT NULL,
  command_json    TEXT NOT NULL,
  pid             INTEGER NOT NULL DEFAULT 0,
  shim_pid        INTEGER NOT NULL DEFAULT 0,
  shim_start_time INTEGER NOT NULL DEFAULT 0,  -- /proc/<pid>/stat field 22, clock ticks
  exit_code       INTEGER NOT NULL DEFAULT 0,
  exit_signal     INTEGER NOT NULL DEFAULT 0,
  oom_killed      INTEGER NOT NULL DEFAULT 0,
  error           TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL DEFAULT 0,  -- unix nanoseconds
  started_at      INTEGER NOT NULL DEFAULT 0,
  finished_at     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX containers_image_id ON containers(image_id);
CREATE TABLE events (
  sequence        INTEGER PRIMARY KEY AUTOINCREMENT,
  time            INTEGER NOT NULL,            -- unix nanoseconds
  type            TEXT NOT NULL,
  container_id    TEXT NOT NULL DEFAULT '',
  image_id        TEXT NOT NULL DEFAULT '',
  attributes_json TEXT NOT NULL DEFAULT '{}'
);
)sql"},
      {2, R"sql(
-- sha256:<hex> of the image manifest blob as loaded, so a save writes it back byte for byte;
-- '' when there is none (an import, or a manifest naming layer blobs stored under other digests).
ALTER TABLE images ADD COLUMN manifest_digest TEXT NOT NULL DEFAULT '';
)sql"},
      {3, R"sql(
-- Restart policies: how often the engine restarted the container since it was last started by
-- hand, and whether the user stopped it (unless-stopped and always stay down until started).
ALTER TABLE containers ADD COLUMN restart_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE containers ADD COLUMN stopped_by_user INTEGER NOT NULL DEFAULT 0;
)sql"},
      {4, R"sql(
-- Bind mounts added to running containers (AddMount); re-applied when the container starts again.
CREATE TABLE container_mounts (
  container_id   TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
  container_path TEXT NOT NULL,              -- absolute, normalized
  host_path      TEXT NOT NULL,              -- absolute
  read_only      INTEGER NOT NULL DEFAULT 0,
  recursive      INTEGER NOT NULL DEFAULT 0,
  propagation    TEXT NOT NULL DEFAULT 'rprivate',
  created_at     INTEGER NOT NULL DEFAULT 0, -- unix nanoseconds
  PRIMARY KEY (container_id, container_path)
);
)sql"},
      {5, R"sql(
-- Bridge networks (issue 7) and their IPv4 address allocations. One row per address handed out;
-- UNIQUE(network, address) is the last guard against handing one out twice.
CREATE TABLE networks (
  name       TEXT PRIMARY KEY,
  subnet     TEXT NOT NULL UNIQUE,          -- "10.213.1.0/24"
  gateway    TEXT NOT NULL,                 -- "10.213.1.1", the bridge's address
  bridge     TEXT NOT NULL UNIQUE,          -- interface name
  internal   INTEGER NOT NULL DEFAULT 0,    -- 1: no masquerade, no route out
  driver     TEXT NOT NULL DEFAULT 'bridge',
  created_at INTEGER NOT NULL DEFAULT 0     -- unix nanoseconds
);
CREATE TABLE ip_allocations (
  network      TEXT NOT NULL REFERENCES networks(name),
  address      TEXT NOT NULL,               -- "10.213.1.2"
  container_id TEXT NOT NULL,
  UNIQUE (network, address),
  UNIQUE (network, container_id)
);
CREATE INDEX ip_allocations_container_id ON ip_allocations(container_id);
CREATE TABLE published_ports (
  container_id   TEXT NOT NULL,
  network        TEXT NOT NULL REFERENCES networks(name),
  host_ip        TEXT NOT NULL DEFAULT '',  -- '' = every host address
  host_port      INTEGER NOT NULL,
  container_port INTEGER NOT NULL,
  protocol       TEXT NOT NULL CHECK (protocol IN ('tcp', 'udp')),
  UNIQUE (host_ip, host_port, protocol)
);
CREATE INDEX published_ports_container_id ON published_ports(container_id);
)sql"},
      {6, R"sql(
-- Blobs a pull is about to fetch or has verified, written before it fetches anything. The garbage
-- collector keeps a leased blob until the pull commits its image (which deletes the lease) or
-- the lease expires, so a pull interrupted by a daemon crash resumes without fetching again.
CREATE TABLE blob_leases (
  lease_id   TEXT NOT NULL,     -- one per pull
  digest     TEXT NOT NULL,     -- sha256:<hex>
  created_at INTEGER NOT NULL,  -- unix nanoseconds
  PRIMARY KEY (lease_id, digest)
);
CREATE INDEX blob_leases_digest ON blob_leases(digest);
)sql"},
      {7, R"sql(
-- The container's interface for each address: 0 is eth0, on the network it was created on; N is
-- ethN, a network joined later with `network connect`.
ALTER TABLE ip_allocations ADD COLUMN iface INTEGER NOT NULL DEFAULT 0;
)sql"},
  };
  return *kMigrations;
}

}  // namespace kapsel::store
