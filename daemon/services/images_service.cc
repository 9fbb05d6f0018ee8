#include "daemon/services/images_service.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "daemon/services/status.h"
#include "runtime/linux/unique_fd.h"
#include "store/fs_util.h"

namespace kapsel::daemon {
namespace {

void ToProto(const store::ImageRecord& rec, v1::Image* out) {
  out->set_id(rec.id);
  for (const auto& t : rec.tags) out->add_tags(t);
  out->set_created_unix_nanos(rec.created_at);
  out->set_size_bytes(rec.size_bytes);
  for (const auto& l : rec.config.value("rootfs", nlohmann::json::object())
                           .value("diff_ids", nlohmann::json::array())) {
    if (l.is_string()) out->add_layers(l.get<std::string>());
  }
  const nlohmann::json cfg = rec.config.value("config", nlohmann::json::object());
  v1::ImageConfig* c = out->mutable_config();
  auto list = [&](const char* key, google::protobuf::RepeatedPtrField<std::string>* field) {
    auto it = cfg.find(key);
    if (it == cfg.end() || !it->is_array()) return;
    for (const auto& v : *it) {
      if (v.is_string()) field->Add(v.get<std::string>());
    }
  };
  list("Entrypoint", c->mutable_entrypoint());
  list("Cmd", c->mutable_cmd());
  list("Env", c->mutable_env());
  c->set_working_dir(cfg.value("WorkingDir", ""));
  c->set_user(cfg.value("User", ""));
  c->set_stop_signal(cfg.value("StopSignal", ""));
  if (auto it = cfg.find("Labels"); it != cfg.end() && it->is_object()) {
    for (const auto& [k, v] : it->items()) {
      if (v.is_string()) (*c->mutable_labels())[k] = v.get<std::string>();
    }
  }
  if (auto it = cfg.find("ExposedPorts"); it != cfg.end() && it->is_object()) {
    for (const auto& [k, v] : it->items()) c->add_exposed_ports(k);
  }
}

// Spools the data messages of a client stream into a file under <data_root>/tmp: the store
// reads an archive more than once. `data` extracts the bytes of one message (nullptr: not data).
template <typename Message>
absl::StatusOr<std::string> Spool(Engine* engine, grpc::ServerReader<Message>* reader,
                                  absl::string_view prefix,
                                  const std::function<const std::string*(const Message&)>& data) {
  const std::string tmp_dir = engine->options().data_root + "/tmp";
  if (auto s = store::MkdirAll(tmp_dir, 0700); !s.ok()) return s;
  std::string path = absl::StrCat(tmp_dir, "/", prefix, "-XXXXXX");
  linux::UniqueFd fd(mkostemp(path.data(), O_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat("mkostemp ", path));
  absl::Cleanup remove = [&] { unlink(path.c_str()); };
  Message msg;
  while (reader->Read(&msg)) {
    const std::string* bytes = data(msg);
    if (bytes == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(prefix, ": only data may follow the header"));
    }
    size_t off = 0;
    while (off < bytes->size()) {
      ssize_t n = write(fd.get(), bytes->data() + off, bytes->size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        return absl::ErrnoToStatus(errno, absl::StrCat("write ", path));
      }
      off += static_cast<size_t>(n);
    }
  }
  if (close(fd.Release()) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("close ", path));
  std::move(remove).Cancel();
  return path;
}

}  // namespace

grpc::Status ImagesService::Import(grpc::ServerContext*,
                                   grpc::ServerReader<v1::ImportImageRequest>* reader,
                                   v1::ImportImageResponse* resp) {
  v1::ImportImageRequest msg;
  if (!reader->Read(&msg) || !msg.has_header()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "import: the first message must be the header");
  }
  const v1::ImportImageHeader header = msg.header();
  if (header.reference().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "import: a reference NAME[:TAG] is required");
  }
  // Spooled to a file under the data root: the store reads it twice (digest, then unpack).
  auto path = Spool<v1::ImportImageRequest>(
      engine_, reader, "import", [](const v1::ImportImageRequest& m) -> const std::string* {
        return m.has_data() ? &m.data() : nullptr;
      });
  if (!path.ok()) return ToGrpc(path.status());
  absl::Cleanup remove = [&] { unlink(path->c_str()); };
  std::vector<std::string> changes(header.changes().begin(), header.changes().end());
  auto image = engine_->ImportImage(*path, header.reference(), changes);
  if (!image.ok()) return ToGrpc(image.status());
  ToProto(*image, resp->mutable_image());
  return grpc::Status::OK;
}

grpc::Status ImagesService::Load(grpc::ServerContext* context,
                                 grpc::ServerReader<v1::LoadImageRequest>* reader,
                                 v1::LoadImageResponse* resp) {
  auto path = Spool<v1::LoadImageRequest>(
      engine_, reader, "load",
      [](const v1::LoadImageRequest& m) -> const std::string* { return &m.data(); });
  if (!path.ok()) return ToGrpc(path.status());
  absl::Cleanup remove = [&] { unlink(path->c_str()); };
  // A client that gave up (its input failed half-way) sent a truncated archive: not loaded.
  if (context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "load: the client cancelled the upload");
  }
  std::vector<store::EventRecord> events;
  auto images = engine_->images()->LoadArchive(*path, &events);
  if (!images.ok()) return ToGrpc(images.status());
  engine_->PublishEvents(events);
  for (const auto& image : *images) ToProto(image, resp->add_images());
  return grpc::Status::OK;
}

grpc::Status ImagesService::Save(grpc::ServerContext* context, const v1::SaveImageRequest* req,
                                 grpc::ServerWriter<v1::SaveImageChunk>* writer) {
  if (req->images().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "save: at least one image is required");
  }
  std::vector<std::string> refs(req->images().begin(), req->images().end());
  // libarchive hands over 10 KiB blocks; they are batched into messages of kSaveChunk bytes.
  constexpr size_t kSaveChunk = 1 << 20;
  v1::SaveImageChunk chunk;
  auto flush = [&]() -> absl::Status {
    if (chunk.data().empty()) return absl::OkStatus();
    if (context->IsCancelled() || !writer->Write(chunk)) {
      return absl::CancelledError("save: the client went away");
    }
    chunk.mutable_data()->clear();
    return absl::OkStatus();
  };
  absl::Status status = engine_->images()->Save(refs, [&](absl::string_view bytes) {
    chunk.mutable_data()->append(bytes.data(), bytes.size());
    return chunk.data().size() >= kSaveChunk ? flush() : absl::OkStatus();
  });
  if (status.ok()) status = flush();
  return ToGrpc(status);
}

grpc::Status ImagesService::Tag(grpc::ServerContext*, const v1::TagImageRequest* req,
                                v1::TagImageResponse* resp) {
  if (req->source().empty() || req->target().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "tag: a source image and a target name[:tag] are required");
  }
  std::vector<store::EventRecord> events;
  auto image = engine_->images()->Tag(req->source(), req->target(), &events);
  if (!image.ok()) return ToGrpc(image.status());
  engine_->PublishEvents(events);
  ToProto(*image, resp->mutable_image());
  return grpc::Status::OK;
}

grpc::Status ImagesService::Pull(grpc::ServerContext* context, const v1::PullImageRequest* req,
                                 grpc::ServerWriter<v1::PullImageProgress>* writer) {
  if (req->reference().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "pull: an image reference is required");
  }
  store::PullRequest request;
  request.reference = req->reference();
  request.platform = req->platform();
  request.credentials = {req->auth().username(), req->auth().password()};
  // The puller calls this from its download threads, one call at a time.
  std::atomic<bool> client_gone{false};
  auto progress = [&](const store::PullProgress& p) {
    v1::PullImageProgress msg;
    msg.set_layer(p.layer);
    msg.set_bytes_done(p.bytes_done);
    msg.set_bytes_total(p.bytes_total);
    switch (p.stage) {
      case store::PullProgress::Stage::kExists:
        msg.set_stage(v1::PullImageProgress::STAGE_EXISTS);
        break;
      case store::PullProgress::Stage::kDownloading:
        msg.set_stage(v1::PullImageProgress::STAGE_DOWNLOADING);
        break;
      case store::PullProgress::Stage::kDone:
        msg.set_stage(v1::PullImageProgress::STAGE_DONE);
        break;
    }
    if (!writer->Write(msg)) client_gone = true;
  };
  auto cancelled = [&] { return client_gone.load() || context->IsCancelled(); };
  std::vector<store::EventRecord> events;
  store::PullOptions options;
  {
    absl::MutexLock lock(&pull_mu_);
    options = pull_;
  }
  auto result =
      store::PullImage(*engine_->images(), options, request, progress, cancelled, &events);
  if (!result.ok()) return ToGrpc(result.status());
  engine_->PublishEvents(events);
  v1::PullImageProgress last;
  ToProto(result->image, last.mutable_image());
  last.set_reference(result->reference);
  last.set_manifest_digest(result->manifest_digest);
  last.set_platform(result->platform);
  writer->Write(last);
  return grpc::Status::OK;
}

grpc::Status ImagesService::List(grpc::ServerContext*, const v1::ListImagesRequest*,
                                 v1::ListImagesResponse* resp) {
  auto images = engine_->images()->List();
  if (!images.ok()) return ToGrpc(images.status());
  for (const auto& img : *images) ToProto(img, resp->add_images());
  return grpc::Status::OK;
}

grpc::Status ImagesService::Inspect(grpc::ServerContext*, const v1::InspectImageRequest* req,
                                    v1::InspectImageResponse* resp) {
  auto img = engine_->images()->Resolve(req->image());
  if (!img.ok()) return ToGrpc(img.status());
  ToProto(*img, resp->mutable_image());
  return grpc::Status::OK;
}

grpc::Status ImagesService::Remove(grpc::ServerContext*, const v1::RemoveImageRequest* req,
                                   v1::RemoveImageResponse* resp) {
  if (req->image().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "rmi: an image is required");
  }
  std::vector<store::EventRecord> events;
  auto result = engine_->images()->Remove(req->image(), req->force(), &events);
  if (!result.ok()) return ToGrpc(result.status());
  engine_->PublishEvents(events);
  for (const auto& t : result->untagged) resp->add_untagged(t);
  for (const auto& d : result->deleted) resp->add_deleted(d);
  resp->set_reclaimed_bytes(result->reclaimed_bytes);
  return grpc::Status::OK;
}

grpc::Status ImagesService::Prune(grpc::ServerContext*, const v1::PruneImagesRequest* req,
                                  v1::PruneImagesResponse* resp) {
  std::vector<store::EventRecord> events;
  auto result = engine_->images()->Prune(req->all(), &events);
  if (!result.ok()) return ToGrpc(result.status());
  engine_->PublishEvents(events);
  for (const auto& d : result->deleted) resp->add_deleted(d);
  resp->set_reclaimed_bytes(result->reclaimed_bytes);
  return grpc::Status::OK;
}

}  // namespace kapsel::daemon
