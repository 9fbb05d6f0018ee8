#pragma once

// A deliberately small HTTP/1.0 responder for Prometheus scrapes: GET /metrics on a loopback TCP
// address or a Unix socket (config.h's ListenAddress). One connection at a time on one thread; a
// request head must arrive whole within 5 s and be at most 8 KiB; every response closes the
// connection. Nothing else of HTTP is spoken.

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/config.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::daemon {

// The whole response (status line, headers, body) to one request head. Pure, for tests.
std::string RespondToHttpRequest(absl::string_view head,
                                 const std::function<std::string()>& render);

class MetricsServer {
 public:
  // Binds `address` and serves on a thread of its own. A Unix socket is made root:`gid` 0660
  // (replacing a stale socket at that path, never another kind of file) and removed by the
  // destructor. `render` runs on the server's thread for each scrape.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const ListenAddress& address,
                                                              gid_t gid,
                                                              std::function<std::string()> render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  const ListenAddress& address() const { return address_; }

 private:
  MetricsServer(ListenAddress address, linux::UniqueFd listen_fd, linux::UniqueFd stop_fd,
                std::function<std::string()> render);
  void Run();
  void Serve(int conn);

  const ListenAddress address_;
  linux::UniqueFd listen_fd_;
  linux::UniqueFd stop_fd_;  // eventfd: readable once the destructor runs
  std::function<std::string()> render_;
  std::thread thread_;
};

}  // namespace kapsel::daemon
