#include "daemon/services/images_service.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

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

grpc::Status Unimplemented(const char* what) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      absl::StrCat(what, " is not implemented yet"));
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
  const std::string tmp_dir = engine_->options().data_root + "/tmp";
  if (auto s = store::MkdirAll(tmp_dir, 0700); !s.ok()) return ToGrpc(s);
  std::string path = tmp_dir + "/import-XXXXXX";
  linux::UniqueFd fd(mkostemp(path.data(), O_CLOEXEC));
  if (!fd) return ToGrpc(absl::ErrnoToStatus(errno, absl::StrCat("mkostemp ", path)));
  absl::Cleanup remove = [&] { unlink(path.c_str()); };
  while (reader->Read(&msg)) {
    if (!msg.has_data()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "import: only data may follow the header");
    }
    const std::string& data = msg.data();
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = write(fd.get(), data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ToGrpc(absl::ErrnoToStatus(errno, absl::StrCat("write ", path)));
      }
      off += static_cast<size_t>(n);
    }
  }
  fd.Close();
  std::vector<std::string> changes(header.changes().begin(), header.changes().end());
  auto image = engine_->ImportImage(path, header.reference(), changes);
  if (!image.ok()) return ToGrpc(image.status());
  ToProto(*image, resp->mutable_image());
  return grpc::Status::OK;
}

grpc::Status ImagesService::Load(grpc::ServerContext*, grpc::ServerReader<v1::LoadImageRequest>*,
                                 v1::LoadImageResponse*) {
  return Unimplemented("load of OCI layouts and docker archives");
}

grpc::Status ImagesService::Pull(grpc::ServerContext*, const v1::PullImageRequest*,
                                 grpc::ServerWriter<v1::PullImageProgress>*) {
  return Unimplemented("pull from a registry");
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

grpc::Status ImagesService::Remove(grpc::ServerContext*, const v1::RemoveImageRequest*,
                                   v1::RemoveImageResponse*) {
  return Unimplemented("image removal");
}

grpc::Status ImagesService::Prune(grpc::ServerContext*, const v1::PruneImagesRequest*,
                                  v1::PruneImagesResponse*) {
  return Unimplemented("image prune");
}

}  // namespace kapsel::daemon
