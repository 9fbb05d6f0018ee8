#pragma once

#include "daemon/engine.h"
#include "kapsel/v1/images.grpc.pb.h"

namespace kapsel::daemon {

class ImagesService final : public v1::Images::Service {
 public:
  explicit ImagesService(Engine* engine) : engine_(engine) {}
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
};

}  // namespace kapsel::daemon
