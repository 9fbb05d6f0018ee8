// Drives the commands through the real CLI11 app against an in-process fake kapseld on a Unix
// socket, and checks what the terminal sees and the exit code.

#include "client/commands/commands.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "client/app.h"
#include "client/context.h"
#include "client/output.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "kapsel/v1/containers.grpc.pb.h"
#include "kapsel/v1/events.grpc.pb.h"
#include "kapsel/v1/images.grpc.pb.h"
#include "kapsel/v1/system.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace kapsel::client {
namespace {

namespace v1 = ::kapsel::v1;

const std::string kId = "f00dfeed0123456789abcdef0123456789abcdef0123456789abcdef01234567";

class FakeContainers final : public v1::Containers::Service {
 public:
  grpc::Status Run(grpc::ServerContext*, const v1::RunContainerRequest* request,
                   grpc::ServerWriter<v1::RunContainerResponse>* writer) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_run_ = *request;
    }
    const std::string& image = request->spec().image();
    if (image == "missing")
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such image: missing");
    v1::RunContainerResponse message;
    message.mutable_created()->set_id(kId);
    message.mutable_created()->set_name("brave_turing");
    writer->Write(message);
    if (image == "notfound") {
      message.mutable_exit()->set_exit_code(127);
      message.mutable_exit()->set_error("exec: \"nope\": executable file not found in $PATH");
      writer->Write(message);
      return grpc::Status::OK;
    }
    if (request->detach()) return grpc::Status::OK;
    if (image == "dies") return grpc::Status(grpc::StatusCode::INTERNAL, "shim died\nbadly");
    message.mutable_output()->set_stream(v1::OutputChunk::STREAM_STDOUT);
    message.mutable_output()->set_data("hello\n");
    writer->Write(message);
    message.mutable_output()->set_stream(v1::OutputChunk::STREAM_STDERR);
    message.mutable_output()->set_data("oops\n");
    writer->Write(message);
    if (image == "killed") {
      message.mutable_exit()->set_signal(9);
    } else {
      message.mutable_exit()->set_exit_code(3);
    }
    writer->Write(message);
    return grpc::Status::OK;
  }

  grpc::Status Create(grpc::ServerContext*, const v1::CreateContainerRequest* request,
                      v1::CreateContainerResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_create_ = *request;
    response->set_id(kId);
    return grpc::Status::OK;
  }

  grpc::Status Remove(grpc::ServerContext*, const v1::RemoveContainerRequest* request,
                      v1::RemoveContainerResponse* response) override {
    if (request->container() == "ghost") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such container: ghost");
    }
    response->set_id(kId);
    return grpc::Status::OK;
  }

  grpc::Status Kill(grpc::ServerContext*, const v1::KillContainerRequest* request,
                    v1::KillContainerResponse*) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_kill_ = *request;
    return grpc::Status::OK;
  }

  grpc::Status Wait(grpc::ServerContext*, const v1::WaitContainerRequest*,
                    v1::WaitContainerResponse* response) override {
    response->mutable_exit()->set_exit_code(42);
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext*, const v1::ListContainersRequest* request,
                    v1::ListContainersResponse* response) override {
    v1::Container* c = response->add_containers();
    c->set_id(kId);
    c->set_name("web");
    c->set_image("busybox");
    c->set_image_id("sha256:" + std::string(64, 'b'));
    c->add_command("sh");
    c->add_command("-c");
    c->add_command("while true; do sleep 1; done");
    c->mutable_status()->set_state(v1::CONTAINER_STATE_RUNNING);
    c->mutable_status()->set_pid(4242);
    c->mutable_status()->set_created_at_unix_nanos(1'700'000'000'000'000'000);
    c->mutable_status()->set_started_at_unix_nanos(1'700'000'000'000'000'000);
    if (request->all()) {
      v1::Container* e = response->add_containers();
      e->set_id(std::string(64, 'e'));
      e->set_name("done");
      e->set_image("alpine:3.19");
      e->add_command("false");
      e->mutable_status()->set_state(v1::CONTAINER_STATE_EXITED);
      e->mutable_status()->set_exit_code(1);
    }
    return grpc::Status::OK;
  }

  grpc::Status Inspect(grpc::ServerContext*, const v1::InspectContainerRequest* request,
                       v1::InspectContainerResponse* response) override {
    if (request->container() != "web") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "no such container: " + request->container());
    }
    response->mutable_container()->set_id(kId);
    response->mutable_container()->set_name("web");
    return grpc::Status::OK;
  }

  std::optional<v1::RunContainerRequest> last_run() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_run_;
  }
  std::optional<v1::CreateContainerRequest> last_create() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_create_;
  }
  std::optional<v1::KillContainerRequest> last_kill() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_kill_;
  }

 private:
  std::mutex mu_;
  std::optional<v1::RunContainerRequest> last_run_;
  std::optional<v1::CreateContainerRequest> last_create_;
  std::optional<v1::KillContainerRequest> last_kill_;
};

class FakeImages final : public v1::Images::Service {
 public:
  grpc::Status Import(grpc::ServerContext*, grpc::ServerReader<v1::ImportImageRequest>* reader,
                      v1::ImportImageResponse* response) override {
    v1::ImportImageRequest request;
    if (!reader->Read(&request) || !request.has_header()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "header first");
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      header_ = request.header();
    }
    std::string data;
    int chunks = 0;
    while (reader->Read(&request)) {
      data += request.data();
      ++chunks;
    }
    std::lock_guard<std::mutex> lock(mu_);
    data_ = data;
    chunks_ = chunks;
    response->mutable_image()->set_id("sha256:" + std::string(64, 'c'));
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext*, const v1::ListImagesRequest*,
                    v1::ListImagesResponse* response) override {
    v1::Image* image = response->add_images();
    image->set_id("sha256:" + std::string(64, 'c'));
    image->add_tags("busybox:latest");
    image->add_tags("localhost:5000/busybox:1.36");
    image->set_size_bytes(4'200'000);
    v1::Image* untagged = response->add_images();
    untagged->set_id("sha256:" + std::string(64, 'd'));
    untagged->set_size_bytes(512);
    return grpc::Status::OK;
  }

  grpc::Status Load(grpc::ServerContext*, grpc::ServerReader<v1::LoadImageRequest>* reader,
                    v1::LoadImageResponse* response) override {
    v1::LoadImageRequest request;
    std::string data;
    while (reader->Read(&request)) data += request.data();
    {
      std::lock_guard<std::mutex> lock(mu_);
      data_ = data;
    }
    v1::Image* image = response->add_images();
    image->set_id("sha256:" + std::string(64, 'c'));
    image->add_tags("app:1");
    image->add_tags("app:2");
    response->add_images()->set_id("sha256:" + std::string(64, 'd'));
    return grpc::Status::OK;
  }

  grpc::Status Save(grpc::ServerContext*, const v1::SaveImageRequest* request,
                    grpc::ServerWriter<v1::SaveImageChunk>* writer) override {
    if (request->images(0) == "nope") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such image: nope");
    }
    v1::SaveImageChunk chunk;
    for (const std::string& image : request->images()) {
      chunk.set_data("archive of " + image + ";");
      writer->Write(chunk);
    }
    return grpc::Status::OK;
  }

  grpc::Status Remove(grpc::ServerContext*, const v1::RemoveImageRequest* request,
                      v1::RemoveImageResponse* response) override {
    if (request->image() == "used" && !request->force()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "unable to remove image used (must be forced): container x uses it");
    }
    response->add_untagged(request->image() + ":latest");
    if (request->force()) response->add_deleted("sha256:" + std::string(64, 'c'));
    return grpc::Status::OK;
  }

  grpc::Status Tag(grpc::ServerContext*, const v1::TagImageRequest* request,
                   v1::TagImageResponse*) override {
    std::lock_guard<std::mutex> lock(mu_);
    data_ = request->source() + " -> " + request->target();
    return grpc::Status::OK;
  }

  grpc::Status Prune(grpc::ServerContext*, const v1::PruneImagesRequest* request,
                     v1::PruneImagesResponse* response) override {
    if (request->all()) response->add_deleted("sha256:" + std::string(64, 'd'));
    response->set_reclaimed_bytes(request->all() ? 2'000'000 : 0);
    return grpc::Status::OK;
  }

  std::string data() {
    std::lock_guard<std::mutex> lock(mu_);
    return data_;
  }
  int chunks() {
    std::lock_guard<std::mutex> lock(mu_);
    return chunks_;
  }
  v1::ImportImageHeader header() {
    std::lock_guard<std::mutex> lock(mu_);
    return header_;
  }

 private:
  std::mutex mu_;
  v1::ImportImageHeader header_;
  std::string data_;
  int chunks_ = 0;
};

class FakeSystem final : public v1::System::Service {
 public:
  grpc::Status Version(grpc::ServerContext*, const v1::VersionRequest*,
                       v1::VersionResponse* response) override {
    response->set_version("9.9.9");
    response->set_api_version("v1");
    response->set_os("linux");
    response->set_arch("amd64");
    return grpc::Status::OK;
  }
  // Info is left UNIMPLEMENTED, like a daemon still being written.
};

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/kapselctl-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    socket_ = dir_ + "/kapsel.sock";
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix://" + socket_, grpc::InsecureServerCredentials());
    builder.RegisterService(&containers_);
    builder.RegisterService(&images_);
    builder.RegisterService(&system_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    std::remove(socket_.c_str());
    std::remove((dir_ + "/rootfs.tar").c_str());
    rmdir(dir_.c_str());
  }

  struct Result {
    int exit_code;
    std::string out;
    std::string err;
  };

  Result Execute(std::vector<std::string> args) {
    std::ostringstream out;
    std::ostringstream err;
    std::string socket = socket_;
    Context ctx(out, err, [socket](const std::string& name) -> std::optional<std::string> {
      if (name == "KAPSEL_SOCKET") return socket;
      if (name == "FROM_CLIENT") return "yes";
      return std::nullopt;
    });
    CLI::App app;
    ConfigureApp(app, ctx);
    RegisterVersion(app, ctx);
    RegisterInfo(app, ctx);
    RegisterImport(app, ctx);
    RegisterImages(app, ctx);
    RegisterLoad(app, ctx);
    RegisterSave(app, ctx);
    RegisterTag(app, ctx);
    RegisterRmi(app, ctx);
    RegisterImage(app, ctx);
    RegisterRun(app, ctx);
    RegisterCreate(app, ctx);
    RegisterStart(app, ctx);
    RegisterStop(app, ctx);
    RegisterKill(app, ctx);
    RegisterWait(app, ctx);
    RegisterLogs(app, ctx);
    RegisterPs(app, ctx);
    RegisterInspect(app, ctx);
    RegisterRm(app, ctx);
    RegisterEvents(app, ctx);
    int code = RunApp(app, ctx, std::move(args));
    return {code, out.str(), err.str()};
  }

  std::string dir_;
  std::string socket_;
  FakeContainers containers_;
  FakeImages images_;
  FakeSystem system_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(CommandsTest, RunStreamsOutputAndExitsWithTheContainersCode) {
  Result r = Execute(
      {"run", "--rm", "-e", "A=1", "-e", "FROM_CLIENT", "busybox", "sh", "-c", "echo -n x"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "hello\n");
  EXPECT_EQ(r.err, "oops\n");
  std::optional<v1::RunContainerRequest> request = containers_.last_run();
  ASSERT_TRUE(request.has_value());
  EXPECT_FALSE(request->detach());
  EXPECT_EQ(request->spec().image(), "busybox");
  EXPECT_TRUE(request->spec().auto_remove());
  EXPECT_EQ(std::vector<std::string>(request->spec().cmd().begin(), request->spec().cmd().end()),
            (std::vector<std::string>{"sh", "-c", "echo -n x"}));
  EXPECT_EQ(std::vector<std::string>(request->spec().env().begin(), request->spec().env().end()),
            (std::vector<std::string>{"A=1", "FROM_CLIENT=yes"}));
}

TEST_F(CommandsTest, RunKilledBySignalExits128PlusSignal) {
  Result r = Execute({"run", "killed"});
  EXPECT_EQ(r.exit_code, 137);
}

TEST_F(CommandsTest, RunDetachedPrintsTheId) {
  Result r = Execute({"run", "-d", "--name", "web", "busybox", "top"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, kId + "\n");
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(containers_.last_run()->detach());
  EXPECT_EQ(containers_.last_run()->spec().name(), "web");
}

TEST_F(CommandsTest, RunStartErrorExitsWithTheDaemonsCode) {
  Result r = Execute({"run", "notfound", "nope"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_EQ(r.err, "kapselctl: exec: \"nope\": executable file not found in $PATH\n");
}

TEST_F(CommandsTest, RunEngineErrorIsOneLineAnd125) {
  Result r = Execute({"run", "missing"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.err, "kapselctl: no such image: missing\n");

  r = Execute({"run", "dies"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "kapselctl: shim died badly\n");
}

TEST_F(CommandsTest, RunBadFlagValueIs125WithoutCallingTheDaemon) {
  Result r = Execute({"run", "-m", "lots", "busybox"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("kapselctl: invalid size \"lots\""), std::string::npos) << r.err;
  EXPECT_FALSE(containers_.last_run().has_value());
}

TEST_F(CommandsTest, UsageErrorsExit125) {
  EXPECT_EQ(Execute({"run"}).exit_code, 125);
  EXPECT_EQ(Execute({"ps", "--bogus"}).exit_code, 125);
  EXPECT_EQ(Execute({"ps", "--format", "yaml"}).exit_code, 125);
  EXPECT_EQ(Execute({"nosuchcommand"}).exit_code, 125);
}

TEST_F(CommandsTest, CreateSendsTheSpecAndPrintsTheId) {
  Result r = Execute({"create", "--cpus", "1.5", "--pids-limit", "10", "alpine", "ls", "-l"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, kId + "\n");
  std::optional<v1::CreateContainerRequest> request = containers_.last_create();
  ASSERT_TRUE(request.has_value());
  EXPECT_DOUBLE_EQ(request->spec().resources().cpus(), 1.5);
  EXPECT_EQ(request->spec().resources().pids_limit(), 10);
  EXPECT_EQ(request->spec().cmd_size(), 2);
}

TEST_F(CommandsTest, PsTable) {
  Result r = Execute({"ps", "-a"});
  EXPECT_EQ(r.exit_code, 0);
  std::istringstream lines(r.out);
  std::string header, first, second;
  std::getline(lines, header);
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_EQ(header.find("CONTAINER ID   IMAGE"), 0u) << header;
  EXPECT_EQ(first.find("f00dfeed0123   busybox"), 0u) << first;
  EXPECT_NE(first.find("\"sh -c while true; d…\""), std::string::npos) << first;
  EXPECT_NE(first.find("Up "), std::string::npos) << first;
  EXPECT_NE(first.find(" ago"), std::string::npos) << first;
  EXPECT_NE(second.find("Exited (1)"), std::string::npos) << second;
  // Aligned in terminal columns: the "…" in COMMAND is three bytes but one column.
  EXPECT_EQ(DisplayWidth(header.substr(0, header.find("STATUS"))),
            DisplayWidth(first.substr(0, first.find("Up "))));
}

TEST_F(CommandsTest, PsQuietAndNoTrunc) {
  EXPECT_EQ(Execute({"ps", "-q"}).out, "f00dfeed0123\n");
  EXPECT_EQ(Execute({"ps", "-q", "--no-trunc"}).out, kId + "\n");
}

TEST_F(CommandsTest, PsJson) {
  Result r = Execute({"ps", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0);
  nlohmann::json row = nlohmann::json::parse(r.out);
  EXPECT_EQ(row["Id"], kId);
  EXPECT_EQ(row["Names"], "web");
  EXPECT_EQ(row["Image"], "busybox");
  EXPECT_EQ(row["State"], "running");
  EXPECT_EQ(row["Pid"], 4242);
  EXPECT_EQ(row["ExitCode"], 0);
  EXPECT_EQ(row["Command"], "\"sh -c while true; do sleep 1; done\"");
  EXPECT_EQ(row["CreatedAt"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(row["Status"].get<std::string>().rfind("Up ", 0), 0u);
}

TEST_F(CommandsTest, RmContinuesAfterAFailureAndExits125) {
  Result r = Execute({"rm", "-f", "a", "ghost", "b"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.out, "a\nb\n");
  EXPECT_EQ(r.err, "kapselctl: no such container: ghost\n");
}

TEST_F(CommandsTest, KillNormalizesTheSignal) {
  Result r = Execute({"kill", "-s", "SIGTERM", "web"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "web\n");
  EXPECT_EQ(containers_.last_kill()->signal(), "TERM");

  r = Execute({"kill", "-s", "BOGUS", "web"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.err, "kapselctl: invalid signal \"BOGUS\"\n");
}

TEST_F(CommandsTest, WaitPrintsTheExitCode) {
  Result r = Execute({"wait", "web"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "42\n");
}

TEST_F(CommandsTest, UnimplementedRpcPrintsCleanly) {
  Result r = Execute({"info"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.err.find("kapselctl: "), 0u);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  r = Execute({"stop", "web"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  r = Execute({"events"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.err.find("kapselctl: "), 0u);
}

TEST_F(CommandsTest, InspectPrintsAJsonArray) {
  Result r = Execute({"inspect", "web"});
  EXPECT_EQ(r.exit_code, 0);
  nlohmann::json array = nlohmann::json::parse(r.out);
  ASSERT_TRUE(array.is_array());
  ASSERT_EQ(array.size(), 1u);
  EXPECT_EQ(array[0]["id"], kId);
  EXPECT_EQ(array[0]["name"], "web");

  r = Execute({"inspect", "web", "nope"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(nlohmann::json::parse(r.out).size(), 1u);
  EXPECT_EQ(r.err, "kapselctl: no such container: nope\n");
}

TEST_F(CommandsTest, ImagesTable) {
  Result r = Execute({"images"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out,
            "REPOSITORY               TAG       IMAGE ID       CREATED   SIZE\n"
            "busybox                  latest    cccccccccccc             4.2MB\n"
            "localhost:5000/busybox   1.36      cccccccccccc             4.2MB\n"
            "<none>                   <none>    dddddddddddd             512B\n");
  EXPECT_EQ(Execute({"images", "-q"}).out, "cccccccccccc\ndddddddddddd\n");
}

TEST_F(CommandsTest, ImagesJson) {
  Result r = Execute({"images", "--format", "json"});
  std::istringstream lines(r.out);
  std::string line;
  std::getline(lines, line);
  nlohmann::json row = nlohmann::json::parse(line);
  EXPECT_EQ(row["Repository"], "busybox");
  EXPECT_EQ(row["Tag"], "latest");
  EXPECT_EQ(row["Size"], "4.2MB");
}

TEST_F(CommandsTest, ImportStreamsTheFileInChunks) {
  std::string path = dir_ + "/rootfs.tar";
  std::string content((1 << 20) + 100, 'x');
  content[12345] = '\0';
  std::ofstream(path, std::ios::binary) << content;
  Result r = Execute({"import", "--change", "CMD [\"sh\"]", path, "busybox"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "sha256:" + std::string(64, 'c') + "\n");
  EXPECT_EQ(images_.data(), content);
  EXPECT_EQ(images_.chunks(), 2);
  EXPECT_EQ(images_.header().reference(), "busybox:latest");
  ASSERT_EQ(images_.header().changes_size(), 1);
  EXPECT_EQ(images_.header().changes(0), "CMD [\"sh\"]");
}

TEST_F(CommandsTest, ImportRejectsBadReference) {
  std::string path = dir_ + "/rootfs.tar";
  std::ofstream(path) << "x";
  Result r = Execute({"import", path, "Bad:Ref"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("\"Bad:Ref\""), std::string::npos) << r.err;
}

TEST_F(CommandsTest, LoadStreamsTheArchiveAndListsTheTags) {
  std::string path = dir_ + "/images.tar";
  std::string content((1 << 20) + 7, 'y');
  std::ofstream(path, std::ios::binary) << content;
  Result r = Execute({"load", "-i", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Loaded image: app:1\nLoaded image: app:2\nLoaded image ID: sha256:" +
                       std::string(64, 'd') + "\n");
  EXPECT_EQ(images_.data(), content);
  r = Execute({"load", "-i", dir_ + "/missing.tar"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("missing.tar"), std::string::npos) << r.err;
}

TEST_F(CommandsTest, LoadOfADirectoryStreamsATarOfIt) {
  std::string layout = dir_ + "/layout";
  ASSERT_EQ(mkdir(layout.c_str(), 0755), 0);
  std::ofstream(layout + "/oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
  Result r = Execute({"load", "-i", layout});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string data = images_.data();
  EXPECT_EQ(data.size() % 512, 0u);
  EXPECT_EQ(data.rfind("oci-layout", 0), 0u) << "the first tar header names the file";
  EXPECT_NE(data.find(R"({"imageLayoutVersion":"1.0.0"})"), std::string::npos);

  ASSERT_EQ(symlink("/etc/passwd", (layout + "/index.json").c_str()), 0);
  r = Execute({"load", "-i", layout});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("symlink index.json -> /etc/passwd leaves the directory"), std::string::npos)
      << r.err;
}

TEST_F(CommandsTest, SaveWritesTheFileOnlyOnSuccess) {
  std::string path = dir_ + "/saved.tar";
  Result r = Execute({"save", "-o", path, "app:1", "app:2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(path, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "archive of app:1;archive of app:2;");
  std::string failed = dir_ + "/failed.tar";
  r = Execute({"save", "-o", failed, "nope"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.err, "kapselctl: no such image: nope\n");
  EXPECT_NE(access(failed.c_str(), F_OK), 0);
}

TEST_F(CommandsTest, RmiTagAndPrune) {
  Result r = Execute({"rmi", "web", "used"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.out, "Untagged: web:latest\n");
  EXPECT_NE(r.err.find("must be forced"), std::string::npos) << r.err;
  r = Execute({"rmi", "-f", "used"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Untagged: used:latest\nDeleted: sha256:" + std::string(64, 'c') + "\n");

  r = Execute({"tag", "app:1", "other"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(images_.data(), "app:1 -> other:latest");
  EXPECT_EQ(Execute({"tag", "app:1", "Bad:Ref"}).exit_code, 125);

  r = Execute({"image", "prune"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Total reclaimed space: 0B\n");
  r = Execute({"image", "prune", "-a"});
  EXPECT_EQ(r.out, "Deleted Images:\ndeleted: sha256:" + std::string(64, 'd') +
                       "\n\nTotal reclaimed space: 2MB\n");
}

TEST_F(CommandsTest, VersionShowsClientAndServer) {
  Result r = Execute({"version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Client:"), std::string::npos);
  EXPECT_NE(r.out.find("9.9.9"), std::string::npos);
  EXPECT_NE(r.out.find("linux/amd64"), std::string::npos);
}

TEST_F(CommandsTest, SocketFlagOverridesEnvironment) {
  Result r = Execute({"ps", "--socket", dir_ + "/other.sock"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.err, "kapselctl: cannot connect to kapseld at " + dir_ +
                       "/other.sock: No such file or directory\n");
}

TEST_F(CommandsTest, RefusedConnectionIsReported) {
  // A socket file nobody listens on any more.
  server_->Shutdown();
  server_.reset();
  Result r = Execute({"ps"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.err.find("kapselctl: cannot connect to kapseld at " + socket_ + ": "), 0u) << r.err;
}

}  // namespace
}  // namespace kapsel::client
