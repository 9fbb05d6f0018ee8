#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "daemon/engine.h"
#include "kapsel/v1/images.grpc.pb.h"
#include "store/image_pull.h"

namespace kapsel::daemon {

class ImagesService final : public v1::Images::Service {
 public:
  // `pull` says how registries are reached (kapseld --insecure-registry).
  explicit ImagesService(Engine* engine, store::PullOptions pull = {})
      : engine_(engine), pull_(std::move(pull)) {}
  // For a configuration reload; pulls already running keep the list they started with.
  void SetInsecureRegistries(std::vector<std::string> registries) {
    absl::MutexLock lock(&pull_mu_);
    pull_.registry.insecure_registries = std::move(registries);
  }
  grpc::Status Import(grpc::ServerContext*, grpc::ServerReader<v1::ImportImageRequest>*,
                      v1::ImportImageResponse*) override;
  grpc::Status Load(grpc::ServerContext*, grpc::ServerReader<v1::LoadImageRequest>*,
                    v1::LoadImageResponse*) override;
  grpc::Status Save(grpc::ServerContext*, const v1::SaveImageRequest*,
                    grpc::ServerWriter<v1::SaveImageChunk>*) override;
  grpc::Status Tag(grpc::ServerContext*, const v1::TagImageRequest*,
                   v1::TagImageResponse*) override;
  grpc::Status Pull(grpc::ServerContext*, const v1::PullImageRequest*,
                    grpc::ServerWriter<v1::PullImageProgress>*) override;
  grpc::Status List(grpc::ServerContext*, const v1::ListImagesRequest*,
                    v1::ListImagesResponse*) override;
  grpc::Status Inspect(grpc::ServerContext*, const v1::InspectImageRequest*,
                       v1::InspectImageResponse*) override;
  grpc::Status Remove(grpc::ServerContext*, const v1::RemoveImageRequest*,
                      v1::RemoveImageResponse*) override;
  grpc::Status Prune(grpc::ServerContext*, const v1::PruneImagesRequest*,
                     v1::PruneImagesResponse*) override;

 private:
  Engine* engine_;
  absl::Mutex pull_mu_;
  store::PullOptions pull_ ABSL_GUARDED_BY(pull_mu_);
};

}  // namespace kapsel::daemon
