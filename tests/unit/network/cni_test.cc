// kapsel's side of the CNI protocol (runtime/network/cni.h), without root: configuration lists
// from a temp dir, and fake plugins (shell scripts written by the test) that record their
// environment and stdin and print a canned result or error. Nothing touches the network.

#include "runtime/network/cni.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kapsel::network {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Every fake plugin is this script under another name. It appends "<n>.<type>.<command>.env" and
// ".stdin" to the record dir, writes <type>.<command>.err to stderr, prints <type>.<command>.out
// and exits with <type>.<command>.rc (0 when missing), all from the record dir.
constexpr char kFakePlugin[] = R"(#!/bin/sh
rec='@REC@'
name=${0##*/}
n=$(cat "$rec/seq" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$rec/seq"
env > "$rec/$n.$name.$CNI_COMMAND.env"
cat > "$rec/$n.$name.$CNI_COMMAND.stdin"
[ -f "$rec/$name.$CNI_COMMAND.err" ] && cat "$rec/$name.$CNI_COMMAND.err" >&2
[ -f "$rec/$name.$CNI_COMMAND.out" ] && cat "$rec/$name.$CNI_COMMAND.out"
exit $(cat "$rec/$name.$CNI_COMMAND.rc" 2>/dev/null || echo 0)
)";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// A result as a plugin of `type` would print it: one interface in the sandbox, one address.
json ResultOf(const std::string& type, int last_octet) {
  return {{"cniVersion", "1.0.0"},
          {"interfaces", json::array({{{"name", "eth0"}, {"sandbox", "/run/netns/x"}}})},
          {"ips", json::array({{{"address", absl::StrCat("10.99.0.", last_octet, "/24")},
                                {"gateway", "10.99.0.1"},
                                {"interface", 0}}})},
          {"dns", {{"nameservers", json::array({type})}}}};
}

class CniTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/kapsel-cni-test-XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    for (const char* d : {"conf", "plugins", "plugins2", "rec"})
      fs::create_directory(root_ + "/" + d);
    options_.conf_dir = root_ + "/conf";
    options_.plugin_dirs = {root_ + "/plugins", root_ + "/plugins2"};
    options_.cache_dir = root_ + "/cache/cni";
    netns_ = root_ + "/netns";
    WriteFile(netns_, "");
    for (const char* type : {"first", "second", "third"}) AddPlugin(root_ + "/plugins", type);
  }
  void TearDown() override { fs::remove_all(root_); }

  void AddPlugin(const std::string& dir, const std::string& type) {
    std::string script = kFakePlugin;
    script.replace(script.find("@REC@"), 5, rec());
    std::string path = dir + "/" + type;
    WriteFile(path, script);
    chmod(path.c_str(), 0755);
  }

  // Canned output and exit code of `type` for `command`.
  void Respond(const std::string& type, const std::string& command, const std::string& out,
               int rc = 0, const std::string& err = "") {
    WriteFile(absl::StrCat(rec(), "/", type, ".", command, ".out"), out);
    if (rc != 0) WriteFile(absl::StrCat(rec(), "/", type, ".", command, ".rc"), absl::StrCat(rc));
    if (!err.empty()) WriteFile(absl::StrCat(rec(), "/", type, ".", command, ".err"), err);
  }

  void WriteConf(const std::string& file, const json& conf) {
    WriteFile(options_.conf_dir + "/" + file, conf.dump(2));
  }

  // testnet: first -> second -> third, with plugin-specific keys and a capability.
  json ThreePluginList() {
    return {{"cniVersion", "1.0.0"},
            {"name", "testnet"},
            {"plugins",
             json::array({{{"type", "first"}, {"bridge", "kb0"}, {"ipam", {{"type", "x"}}}},
                          {{"type", "second"}, {"capabilities", {{"portMappings", true}}}},
                          {{"type", "third"}, {"name", "ignored"}, {"cniVersion", "0.0.1"}}})}};
  }

  void RespondAddAll() {
    Respond("first", "ADD", ResultOf("first", 5).dump());
    Respond("second", "ADD", ResultOf("second", 6).dump());
    Respond("third", "ADD", ResultOf("third", 7).dump());
  }

  // "<type>.<command>" of every execution so far, in order.
  std::vector<std::string> Calls() {
    std::map<int, std::string> by_seq;
    for (const auto& entry : fs::directory_iterator(rec())) {
      std::string file = entry.path().filename();
      if (!file.ends_with(".stdin")) continue;
      std::vector<std::string> parts = absl::StrSplit(file, '.');
      int n = 0;
      if (parts.size() == 4 && absl::SimpleAtoi(parts[0], &n)) {
        by_seq[n] = absl::StrCat(parts[1], ".", parts[2]);
      }
    }
    std::vector<std::string> out;
    for (const auto& [n, call] : by_seq) out.push_back(call);
    return out;
  }

  // The stdin of execution `n` (1-based), as JSON.
  json Stdin(int n) {
    for (const auto& entry : fs::directory_iterator(rec())) {
      std::string file = entry.path().filename();
      if (file.starts_with(absl::StrCat(n, ".")) && file.ends_with(".stdin")) {
        return json::parse(ReadFile(entry.path()));
      }
    }
    ADD_FAILURE() << "no execution " << n;
    return nullptr;
  }

  std::map<std::string, std::string> Env(int n) {
    std::map<std::string, std::string> env;
    for (const auto& entry : fs::directory_iterator(rec())) {
      std::string file = entry.path().filename();
      if (file.starts_with(absl::StrCat(n, ".")) && file.ends_with(".env")) {
        for (absl::string_view line : absl::StrSplit(ReadFile(entry.path()), '\n')) {
          std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
          if (!kv.first.empty()) env[kv.first] = kv.second;
        }
      }
    }
    return env;
  }

  std::string CacheFile() const { return options_.cache_dir + "/testnet-c1.json"; }
  std::string rec() const { return root_ + "/rec"; }

  std::string root_;
  std::string netns_;
  CniOptions options_;
};

TEST_F(CniTest, LoadsTheFirstFileWithTheNameInLexicalOrder) {
  WriteConf("10-other.conflist", {{"name", "other"}, {"cniVersion", "1.0.0"}});  // not validated
  WriteConf("20-testnet.conflist", ThreePluginList());
  json later = ThreePluginList();
  later["plugins"] = json::array({{{"type", "third"}}});
  WriteConf("30-testnet.conflist", later);
  WriteFile(options_.conf_dir + "/05-ignored.txt", "not a config");

  absl::StatusOr<CniNetworkList> list = LoadNetworkList(options_.conf_dir, "testnet");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->name, "testnet");
  EXPECT_EQ(list->cni_version, "1.0.0");
  EXPECT_EQ(list->source, options_.conf_dir + "/20-testnet.conflist");
  ASSERT_EQ(list->plugins.size(), 3u);
  EXPECT_EQ(list->plugins[0]["bridge"], "kb0");
  EXPECT_FALSE(list->disable_check);
}

TEST_F(CniTest, WrapsASinglePluginConf) {
  WriteConf("10-single.conf",
            {{"cniVersion", "0.4.0"}, {"name", "single"}, {"type", "bridge"}, {"bridge", "kb1"}});
  absl::StatusOr<CniNetworkList> list = LoadNetworkList(options_.conf_dir, "single");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->cni_version, "0.4.0");
  ASSERT_EQ(list->plugins.size(), 1u);
  EXPECT_EQ(list->plugins[0]["type"], "bridge");
  EXPECT_EQ(list->plugins[0]["bridge"], "kb1");
  EXPECT_EQ(list->ToJson()["plugins"][0]["bridge"], "kb1");
}

TEST_F(CniTest, NotFoundNamesTheNetworkAndTheDir) {
  WriteConf("10-other.conflist", ThreePluginList());
  absl::StatusOr<CniNetworkList> list = LoadNetworkList(options_.conf_dir, "x");
  EXPECT_TRUE(absl::IsNotFound(list.status())) << list.status();
  EXPECT_EQ(list.status().message(),
            absl::StrCat("CNI network \"x\" not found in ", options_.conf_dir));
  list = LoadNetworkList(root_ + "/missing", "x");
  EXPECT_TRUE(absl::IsNotFound(list.status())) << list.status();
}

TEST_F(CniTest, InvalidFilesAreNamedWithWhatIsWrong) {
  struct Case {
    std::string text;
    std::string error;
  };
  std::vector<Case> cases = {
      {"{\"name\": \"testnet\",", "bad JSON"},
      {"[]", "missing string \"name\""},
      {R"({"name": "testnet", "plugins": [{"type": "a"}]})", "missing string \"cniVersion\""},
      {R"({"cniVersion": "0.2.0", "name": "testnet", "plugins": [{"type": "a"}]})",
       "unsupported cniVersion \"0.2.0\""},
      {R"({"cniVersion": "1.0.0", "name": "testnet"})", "missing \"plugins\""},
      {R"({"cniVersion": "1.0.0", "name": "testnet", "plugins": []})",
       "\"plugins\" is not a non-empty array"},
      {R"({"cniVersion": "1.0.0", "name": "testnet", "plugins": [{"type": "a"}, {}]})",
       "plugin 1: missing string \"type\""},
      {R"({"cniVersion": "1.0.0", "name": "testnet", "plugins": [{"type": "../sh"}]})",
       "plugin 0: type \"../sh\" is not a plain file name"},
      {R"({"cniVersion": "1.0.0", "name": "testnet", "disableCheck": 1, "plugins": [{"type": "a"}]})",
       "\"disableCheck\" is not a boolean"},
  };
  std::string path = options_.conf_dir + "/10-testnet.conflist";
  for (const Case& c : cases) {
    WriteFile(path, c.text);
    absl::StatusOr<CniNetworkList> list = LoadNetworkList(options_.conf_dir, "testnet");
    EXPECT_TRUE(absl::IsInvalidArgument(list.status())) << c.text << ": " << list.status();
    EXPECT_THAT(list.status().message(), HasSubstr(path)) << c.text;
    EXPECT_THAT(list.status().message(), HasSubstr(c.error)) << c.text;
  }
  absl::StatusOr<CniNetworkList> bad_name = ParseNetworkList(
      R"({"cniVersion": "1.0.0", "name": "a/b", "plugins": [{"type": "a"}]})", "mem");
  EXPECT_TRUE(absl::IsInvalidArgument(bad_name.status())) << bad_name.status();
}

TEST_F(CniTest, ParsesTheFirstIpv4OfAResult) {
  json raw = {
      {"cniVersion", "1.0.0"},
      {"interfaces", json::array({{{"name", "kb0"}}, {{"name", "net1"}, {"sandbox", "/x"}}})},
      {"ips", json::array({{{"address", "fd00::5/64"}, {"interface", 1}},
                           {{"address", "10.1.2.3/16"}, {"gateway", "10.1.0.1"}, {"interface", 1}},
                           {{"address", "10.9.9.9/8"}}})}};
  absl::StatusOr<CniResult> r = ParseCniResult(raw.dump(), "eth0");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->interface, "net1");
  EXPECT_EQ(r->address, "10.1.2.3");
  EXPECT_EQ(r->prefix_length, 16);
  EXPECT_EQ(r->gateway, "10.1.0.1");
  EXPECT_EQ(r->raw_json, raw.dump());

  absl::StatusOr<CniResult> empty = ParseCniResult(R"({"cniVersion": "1.0.0"})", "eth0");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->interface, "eth0");
  EXPECT_EQ(empty->address, "");
  EXPECT_TRUE(absl::IsInvalidArgument(ParseCniResult("nope", "eth0").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      ParseCniResult(R"({"ips": [{"address": "10.1/99"}]})", "e").status()));
}

TEST(CniPluginErrorTest, ErrorObjectBecomesAClearStatus) {
  absl::Status s = CniPluginError("bridge", "x", "ADD", 1 << 8,
                                  R"({"cniVersion": "1.0.0", "code": 7, "msg": "bad config",
                                      "details": "no bridge"})",
                                  "");
  EXPECT_EQ(s, absl::InternalError("CNI plugin bridge (network \"x\") ADD failed: code 7: bad "
                                   "config: no bridge"));
  s = CniPluginError("bridge", "x", "DEL", 1 << 8, R"({"code": 11, "msg": "busy"})", "");
  EXPECT_EQ(s,
            absl::UnavailableError("CNI plugin bridge (network \"x\") DEL failed: code 11: busy"));
  s = CniPluginError("bridge", "x", "CHECK", 1 << 8, R"({"code": 3, "msg": "gone"})", "");
  EXPECT_TRUE(absl::IsNotFound(s));
  s = CniPluginError("bridge", "x", "ADD", 2 << 8, "panic: oops\n", "goroutine 1\n");
  EXPECT_EQ(s, absl::InternalError("CNI plugin bridge (network \"x\") ADD failed: exit status 2: "
                                   "panic: oops; stderr: goroutine 1"));
  s = CniPluginError("bridge", "x", "ADD", SIGKILL, "", "");
  EXPECT_EQ(s.message(), "CNI plugin bridge (network \"x\") ADD failed: killed by signal 9");
}

TEST_F(CniTest, AddChainsResultsAndInjectsNameAndVersion) {
  WriteConf("10-testnet.conflist", ThreePluginList());
  RespondAddAll();
  setenv("KAPSEL_CNI_TEST_LEAK", "1", 1);
  absl::StatusOr<CniResult> result = CniAdd(options_, "testnet", "c1", netns_, "eth0");
  unsetenv("KAPSEL_CNI_TEST_LEAK");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->interface, "eth0");
  EXPECT_EQ(result->address, "10.99.0.7");
  EXPECT_EQ(result->prefix_length, 24);
  EXPECT_EQ(result->gateway, "10.99.0.1");
  EXPECT_EQ(json::parse(result->raw_json), ResultOf("third", 7));
  EXPECT_THAT(Calls(), ElementsAre("first.ADD", "second.ADD", "third.ADD"));

  json first = Stdin(1);
  EXPECT_EQ(first["name"], "testnet");
  EXPECT_EQ(first["cniVersion"], "1.0.0");
  EXPECT_EQ(first["bridge"], "kb0");
  EXPECT_EQ(first["ipam"]["type"], "x");
  EXPECT_FALSE(first.contains("prevResult"));
  json second = Stdin(2);
  EXPECT_EQ(second["prevResult"], ResultOf("first", 5));
  EXPECT_FALSE(second.contains("capabilities"));
  EXPECT_FALSE(second.contains("runtimeConfig"));
  json third = Stdin(3);
  EXPECT_EQ(third["prevResult"], ResultOf("second", 6));
  EXPECT_EQ(third["name"], "testnet") << "the list's name wins over the plugin's";
  EXPECT_EQ(third["cniVersion"], "1.0.0");

  std::map<std::string, std::string> env = Env(2);
  EXPECT_EQ(env["CNI_COMMAND"], "ADD");
  EXPECT_EQ(env["CNI_CONTAINERID"], "c1");
  EXPECT_EQ(env["CNI_NETNS"], netns_);
  EXPECT_EQ(env["CNI_IFNAME"], "eth0");
  EXPECT_EQ(env["CNI_PATH"], absl::StrCat(root_, "/plugins:", root_, "/plugins2"));
  EXPECT_THAT(env["PATH"], HasSubstr("/usr/bin"));
  EXPECT_EQ(env.count("KAPSEL_CNI_TEST_LEAK"), 0u) << "the daemon's environment must not leak";

  struct stat st;
  ASSERT_EQ(stat(CacheFile().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  json cache = json::parse(ReadFile(CacheFile()));
  EXPECT_EQ(cache["result"], ResultOf("third", 7));
  EXPECT_EQ(cache["config"]["plugins"].size(), 3u);
  EXPECT_FALSE(fs::exists(CacheFile() + ".tmp"));

  absl::StatusOr<CniResult> again = CniAdd(options_, "testnet", "c1", netns_, "eth0");
  EXPECT_TRUE(absl::IsAlreadyExists(again.status())) << again.status();
}

TEST_F(CniTest, CheckAndDelUseTheCachedListAndResult) {
  WriteConf("10-testnet.conflist", ThreePluginList());
  RespondAddAll();
  ASSERT_TRUE(CniAdd(options_, "testnet", "c1", netns_, "eth0").ok());
  // The file changes after ADD: CHECK and DEL still see the three plugins ADD used.
  json changed = ThreePluginList();
  changed["plugins"] = json::array({{{"type", "third"}}});
  WriteConf("10-testnet.conflist", changed);

  absl::Status check = CniCheck(options_, "testnet", "c1", netns_, "eth0");
  ASSERT_TRUE(check.ok()) << check;
  absl::Status del = CniDel(options_, "testnet", "c1", netns_, "eth0");
  ASSERT_TRUE(del.ok()) << del;
  EXPECT_THAT(Calls(),
              ElementsAre("first.ADD", "second.ADD", "third.ADD", "first.CHECK", "second.CHECK",
                          "third.CHECK", "third.DEL", "second.DEL", "first.DEL"));
  for (int n = 4; n <= 9; ++n) {
    json in = Stdin(n);
    EXPECT_EQ(in["prevResult"], ResultOf("third", 7)) << n;
    EXPECT_EQ(in["name"], "testnet");
  }
  EXPECT_EQ(Env(4)["CNI_COMMAND"], "CHECK");
  EXPECT_EQ(Env(7)["CNI_COMMAND"], "DEL");
  EXPECT_EQ(Env(7)["CNI_NETNS"], netns_);
  EXPECT_FALSE(fs::exists(CacheFile()));

  absl::Status no_cache = CniCheck(options_, "testnet", "c1", netns_, "eth0");
  EXPECT_TRUE(absl::IsNotFound(no_cache)) << no_cache;
}

TEST_F(CniTest, DelIsIdempotent) {
  WriteConf("10-testnet.conflist", ThreePluginList());
  RespondAddAll();
  ASSERT_TRUE(CniAdd(options_, "testnet", "c1", netns_, "eth0").ok());
  unlink(netns_.c_str());
  ASSERT_TRUE(CniDel(options_, "testnet", "c1", netns_, "eth0").ok());
  EXPECT_EQ(Env(4)["CNI_NETNS"], "") << "a gone namespace is passed as empty";
  // No cache: the current list, without prevResult.
  ASSERT_TRUE(CniDel(options_, "testnet", "c1", "", "eth0").ok());
  EXPECT_THAT(Calls(),
              ElementsAre("first.ADD", "second.ADD", "third.ADD", "third.DEL", "second.DEL",
                          "first.DEL", "third.DEL", "second.DEL", "first.DEL"));
  EXPECT_FALSE(Stdin(7).contains("prevResult"));
  // Neither cache nor list: nothing to do.
  fs::remove(options_.conf_dir + "/10-testnet.conflist");
  ASSERT_TRUE(CniDel(options_, "testnet", "c1", "", "eth0").ok());
  EXPECT_EQ(Calls().size(), 9u);
}

TEST_F(CniTest, FailedDelKeepsTheCacheForARetry) {
  WriteConf("10-testnet.conflist", ThreePluginList());
  RespondAddAll();
  ASSERT_TRUE(CniAdd(options_, "testnet", "c1", netns_, "eth0").ok());
  Respond("second", "DEL", R"({"code": 5, "msg": "io"})", 1);
  absl::Status del = CniDel(options_, "testnet", "c1", netns_, "eth0");
  EXPECT_EQ(del.message(), "CNI plugin second (network \"testnet\") DEL failed: code 5: io");
  EXPECT_THAT(Calls(), ElementsAre("first.ADD", "second.ADD", "third.ADD", "third.DEL",
                                   "second.DEL", "first.DEL"))
      << "the other plugins still clean up";
  EXPECT_TRUE(fs::exists(CacheFile()));
  fs::remove(absl::StrCat(rec(), "/second.DEL.rc"));
  EXPECT_TRUE(CniDel(options_, "testnet", "c1", netns_, "eth0").ok());
  EXPECT_FALSE(fs::exists(CacheFile()));
}

TEST_F(CniTest, FailedAddRollsBackTheEarlierPlugins) {
  WriteConf("10-testnet.conflist", ThreePluginList());
  RespondAddAll();
  Respond("second", "ADD",
          R"({"cniVersion": "1.0.0", "code": 7, "msg": "invalid config", "details": "no subnet"})",
          1);
  absl::StatusOr<CniResult> result = CniAdd(options_, "testnet", "c1", netns_, "eth0");
  EXPECT_TRUE(absl::IsInternal(result.status())) << result.status();
  EXPECT_EQ(
      result.status().message(),
      "CNI plugin second (network \"testnet\") ADD failed: code 7: invalid config: no subnet");
  EXPECT_THAT(Calls(), ElementsAre("first.ADD", "second.ADD", "second.DEL", "first.DEL"));
  EXPECT_EQ(Stdin(3)["prevResult"], ResultOf("first", 5));
  EXPECT_EQ(Env(4)["CNI_COMMAND"], "DEL");
  EXPECT_FALSE(fs::exists(CacheFile()));
}

TEST_F(CniTest, RollbackFailureIsReportedWithTheAddError) {
  WriteConf("10-testnet.conflist", ThreePluginList());
  RespondAddAll();
  Respond("third", "ADD", "not json");
  Respond("first", "DEL", "", 1, "cannot delete");
  absl::StatusOr<CniResult> result = CniAdd(options_, "testnet", "c1", netns_, "eth0");
  EXPECT_TRUE(absl::IsInternal(result.status())) << result.status();
  EXPECT_THAT(result.status().message(),
              HasSubstr("CNI plugin third (network \"testnet\") ADD: printed a result that is not "
                        "JSON; rollback DEL: CNI plugin first (network \"testnet\") DEL failed: "
                        "exit status 1; stderr: cannot delete"));
  EXPECT_THAT(Calls(), ElementsAre("first.ADD", "second.ADD", "third.ADD", "third.DEL",
                                   "second.DEL", "first.DEL"));
  EXPECT_FALSE(fs::exists(CacheFile()));
}

TEST_F(CniTest, MissingPluginFailsBeforeAnythingRuns) {
  json list = ThreePluginList();
  list["plugins"][2]["type"] = "nonexistent";
  WriteConf("10-testnet.conflist", list);
  RespondAddAll();
  absl::StatusOr<CniResult> result = CniAdd(options_, "testnet", "c1", netns_, "eth0");
  EXPECT_TRUE(absl::IsFailedPrecondition(result.status())) << result.status();
  EXPECT_EQ(result.status().message(), absl::StrCat("CNI plugin \"nonexistent\" not found in ",
                                                    root_, "/plugins:", root_, "/plugins2"));
  EXPECT_TRUE(Calls().empty());
}

TEST_F(CniTest, PluginsAreFoundInLaterDirs) {
  WriteConf("10-testnet.conflist",
            {{"cniVersion", "1.0.0"}, {"name", "testnet"}, {"plugins", {{{"type", "late"}}}}});
  AddPlugin(root_ + "/plugins2", "late");
  Respond("late", "ADD", ResultOf("late", 9).dump());
  absl::StatusOr<CniResult> result = CniAdd(options_, "testnet", "c1", netns_, "eth0");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->address, "10.99.0.9");
}

TEST_F(CniTest, SlowPluginIsKilledAtTheDeadline) {
  WriteConf("10-testnet.conflist",
            {{"cniVersion", "1.0.0"}, {"name", "testnet"}, {"plugins", {{{"type", "slow"}}}}});
  // sleep runs as a child of the shell: the kill must reach the whole process group.
  WriteFile(root_ + "/plugins/slow", "#!/bin/sh\n[ \"$CNI_COMMAND\" = ADD ] && sleep 30\nexit 0\n");
  chmod((root_ + "/plugins/slow").c_str(), 0755);
  options_.plugin_timeout = absl::Milliseconds(300);
  absl::Time start = absl::Now();
  absl::StatusOr<CniResult> result = CniAdd(options_, "testnet", "c1", netns_, "eth0");
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_TRUE(absl::IsDeadlineExceeded(result.status())) << result.status();
  EXPECT_THAT(result.status().message(),
              HasSubstr("CNI plugin slow (network \"testnet\") ADD: timed out after 300ms"));
}

TEST_F(CniTest, CheckHonoursDisableCheckAndTheVersion) {
  json list = ThreePluginList();
  list["disableCheck"] = true;
  WriteConf("10-testnet.conflist", list);
  RespondAddAll();
  ASSERT_TRUE(CniAdd(options_, "testnet", "c1", netns_, "eth0").ok());
  EXPECT_TRUE(CniCheck(options_, "testnet", "c1", netns_, "eth0").ok());
  EXPECT_EQ(Calls().size(), 3u);
  ASSERT_TRUE(CniDel(options_, "testnet", "c1", netns_, "eth0").ok());

  list = ThreePluginList();
  list["cniVersion"] = "0.3.1";
  WriteConf("10-testnet.conflist", list);
  ASSERT_TRUE(CniAdd(options_, "testnet", "c1", netns_, "eth0").ok());
  absl::Status check = CniCheck(options_, "testnet", "c1", netns_, "eth0");
  EXPECT_TRUE(absl::IsFailedPrecondition(check)) << check;
  EXPECT_EQ(Stdin(7)["cniVersion"], "0.3.1");
}

TEST_F(CniTest, RefusesUnsafeArguments) {
  WriteConf("10-testnet.conflist", ThreePluginList());
  EXPECT_TRUE(
      absl::IsInvalidArgument(CniAdd(options_, "testnet", "../c1", netns_, "eth0").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(CniAdd(options_, "test/net", "c1", netns_, "eth0").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      CniAdd(options_, "testnet", "c1", netns_, "a-name-that-is-too-long").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(CniAdd(options_, "testnet", "c1", "", "eth0").status()));
  CniOptions no_cache = options_;
  no_cache.cache_dir.clear();
  EXPECT_TRUE(absl::IsInvalidArgument(CniDel(no_cache, "testnet", "c1", netns_, "eth0")));
  EXPECT_TRUE(Calls().empty());
}

}  // namespace
}  // namespace kapsel::network
