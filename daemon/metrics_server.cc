#include "daemon/metrics_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "daemon/accept_loop.h"
#include "spdlog/spdlog.h"

namespace kapsel::daemon {
namespace {

constexpr size_t kMaxRequestHead = 8192;  // bytes
constexpr absl::Duration kIoTimeout = absl::Seconds(5);

std::string Response(int code, absl::string_view reason, absl::string_view content_type,
                     absl::string_view body, absl::string_view extra_headers = "") {
  return absl::StrCat("HTTP/1.0 ", code, " ", reason, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\n", extra_headers,
                      "Connection: close\r\n\r\n", body);
}

std::string PlainError(int code, absl::string_view reason, absl::string_view extra = "") {
  return Response(code, reason, "text/plain; charset=utf-8", absl::StrCat(reason, "\n"), extra);
}

// Waits until `fd` is ready for `events` or `deadline` passes.
bool WaitFor(int fd, short events, absl::Time deadline) {
  for (;;) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return false;
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, static_cast<int>(ms));
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

absl::StatusOr<linux::UniqueFd> BindTcp(const ListenAddress& address) {
  const bool v6 = absl::StrContains(address.host, ':');
  linux::UniqueFd fd(socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return absl::ErrnoToStatus(errno, "socket AF_INET");
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc;
  if (v6) {
    sockaddr_in6 addr = {};
    addr.sin6_family = AF_INET6;
    addr.sin6_port = htons(address.port);
    inet_pton(AF_INET6, address.host.c_str(), &addr.sin6_addr);
    rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  } else {
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(address.port);
    inet_pton(AF_INET, address.host.c_str(), &addr.sin_addr);
    rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  }
  if (rc != 0) return absl::ErrnoToStatus(errno, absl::StrCat("bind ", address.text));
  return fd;
}

}  // namespace

std::string RespondToHttpRequest(absl::string_view head,
                                 const std::function<std::string()>& render) {
  const size_t eol = head.find('\n');
  absl::string_view line = head.substr(0, eol);
  if (absl::EndsWith(line, "\r")) line.remove_suffix(1);
  std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 3 || !(parts[2] == "HTTP/1.0" || parts[2] == "HTTP/1.1") ||
      parts[1].empty() || parts[1].front() != '/') {
    return PlainError(400, "Bad Request");
  }
  absl::string_view path = parts[1].substr(0, parts[1].find('?'));
  if (path != "/metrics") return PlainError(404, "Not Found");
  if (parts[0] != "GET") return PlainError(405, "Method Not Allowed", "Allow: GET\r\n");
  return Response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", render());
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const ListenAddress& address, gid_t gid, std::function<std::string()> render) {
  auto fd = address.kind == ListenAddress::Kind::kUnix ? BindUnixSocket(address.path, gid, 16)
                                                       : BindTcp(address);
  if (!fd.ok()) return fd.status();
  // (Listening already for a Unix socket: listen(2) again only sets the same backlog.)
  if (listen(fd->get(), 16) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("listen ", address.text));
  }
  linux::UniqueFd stop(eventfd(0, EFD_CLOEXEC));
  if (!stop) return absl::ErrnoToStatus(errno, "eventfd");
  std::unique_ptr<MetricsServer> server(
      new MetricsServer(address, *std::move(fd), std::move(stop), std::move(render)));
  server->thread_ = std::thread([s = server.get()] { s->Run(); });
  return server;
}

MetricsServer::MetricsServer(ListenAddress address, linux::UniqueFd listen_fd,
                             linux::UniqueFd stop_fd, std::function<std::string()> render)
    : address_(std::move(address)),
      listen_fd_(std::move(listen_fd)),
      stop_fd_(std::move(stop_fd)),
      render_(std::move(render)) {}

MetricsServer::~MetricsServer() {
  uint64_t one = 1;
  ssize_t unused = write(stop_fd_.get(), &one, sizeof(one));
  (void)unused;
  if (thread_.joinable()) thread_.join();
  if (address_.kind == ListenAddress::Kind::kUnix) unlink(address_.path.c_str());
}

void MetricsServer::Run() {
  AcceptLoop(listen_fd_.get(), stop_fd_.get(), "metrics",
             [this](linux::UniqueFd conn) { Serve(conn.get()); });
}

void MetricsServer::Serve(int conn) {
  const absl::Time deadline = absl::Now() + kIoTimeout;
  std::string head;
  char buf[1024];
  while (head.find("\r\n\r\n") == std::string::npos && head.find("\n\n") == std::string::npos) {
    if (head.size() > kMaxRequestHead) {
      head.clear();
      break;
    }
    if (!WaitFor(conn, POLLIN, deadline)) return;
    ssize_t n = read(conn, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return;
    head.append(buf, static_cast<size_t>(n));
  }
  const std::string response = head.empty() ? PlainError(431, "Request Header Fields Too Large")
                                            : RespondToHttpRequest(head, render_);
  size_t sent = 0;
  while (sent < response.size()) {
    if (!WaitFor(conn, POLLOUT, deadline)) return;
    ssize_t n = send(conn, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
  shutdown(conn, SHUT_WR);
}

}  // namespace kapsel::daemon
