#include "daemon/peer_access.h"

#include <sys/socket.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kapsel::daemon {
namespace {

using ::testing::HasSubstr;

AccessPolicy Group(gid_t gid) { return AccessPolicy{true, gid, "kapsel"}; }

PeerCredentials Peer(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
  return PeerCredentials{1234, uid, gid, std::move(groups)};
}

TEST(PeerAccessTest, RootIsAdmitted) {
  EXPECT_TRUE(MayUseApi(Peer(0, 0), Group(998)));
  EXPECT_TRUE(MayUseApi(Peer(0, 5), AccessPolicy{}));  // even with no group at all
}

TEST(PeerAccessTest, GroupMembersAreAdmitted) {
  EXPECT_TRUE(MayUseApi(Peer(1000, 998), Group(998)));                   // primary group
  EXPECT_TRUE(MayUseApi(Peer(1000, 1000, {24, 998, 100}), Group(998)));  // supplementary
}

TEST(PeerAccessTest, OthersAreRefused) {
  EXPECT_FALSE(MayUseApi(Peer(1000, 1000, {24, 100}), Group(998)));
  EXPECT_FALSE(MayUseApi(Peer(1000, 1000), Group(998)));
  // Without a socket group only root: gid 0 in a group list is no substitute for uid 0.
  EXPECT_FALSE(MayUseApi(Peer(1000, 0, {0}), AccessPolicy{}));
}

TEST(PeerAccessTest, DenialNamesUidAndGroup) {
  std::string m = DenialMessage(Peer(1000, 1000), Group(998));
  EXPECT_THAT(m, HasSubstr("permission denied"));
  EXPECT_THAT(m, HasSubstr("uid 1000"));
  EXPECT_THAT(m, HasSubstr("\"kapsel\" (gid 998)"));
  EXPECT_THAT(DenialMessage(Peer(1000, 1000), AccessPolicy{false, 0, "kapsel"}),
              HasSubstr("only root"));
}

TEST(PeerAccessTest, ReadsOwnCredentialsFromASocketPair) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  auto creds = ReadPeerCredentials(sv[0]);
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_EQ(creds->pid, getpid());
  EXPECT_EQ(creds->uid, geteuid());
  EXPECT_EQ(creds->gid, getegid());
  std::vector<gid_t> mine(getgroups(0, nullptr));
  mine.resize(getgroups(static_cast<int>(mine.size()), mine.data()));
  EXPECT_EQ(creds->groups, mine);
  close(sv[0]);
  close(sv[1]);
}

}  // namespace
}  // namespace kapsel::daemon
