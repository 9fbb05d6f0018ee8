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
  };
  return *kMigrations;
}

}  // namespace kapsel::store
