// ConnectionLimit against the real /proc/self/fd: connections count until their socket is
// closed, wherever it is closed.
#include "daemon/connection_limit.h"

#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "gtest/gtest.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::daemon {
namespace {

using linux::UniqueFd;

struct Pair {
  UniqueFd server, client;
};

Pair MakePair() {
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

TEST(ConnectionLimitTest, RefusesPastTheCapUntilOneIsClosed) {
  ConnectionLimit limit(3);
  std::vector<Pair> pairs;
  for (int i = 0; i < 4; ++i) pairs.push_back(MakePair());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limit.Admit(pairs[i].server.get())) << i;
  EXPECT_FALSE(limit.Admit(pairs[3].server.get()));
  EXPECT_EQ(limit.Open(), 3u);
  // The server side closes one (as gRPC does when its client goes away).
  pairs[1].server.Reset();
  EXPECT_EQ(limit.Open(), 2u);
  EXPECT_TRUE(limit.Admit(pairs[3].server.get()));
  EXPECT_FALSE(limit.Admit(MakePair().server.get()));
}

TEST(ConnectionLimitTest, AnFdThatIsNoFileIsRefused) {
  ConnectionLimit limit(3);
  EXPECT_FALSE(limit.Admit(-1));
  EXPECT_EQ(limit.Open(), 0u);
}

TEST(ConnectionLimitTest, DefaultFollowsTheFdLimit) {
  size_t max = ConnectionLimit::DefaultMax();
  EXPECT_GE(max, 16u);
  EXPECT_LE(max, 4096u);
}

}  // namespace
}  // namespace kapsel::daemon
