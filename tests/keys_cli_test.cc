// `deepkb keys ...` end-to-end: the real binary on a real data directory, and against a real
// `deepkb serve` holding that directory (then --server/--api-key over HTTP).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "common/hash.h"
#include "shell_util.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using deepkb::testing::CmdResult;
using deepkb::testing::Quote;
using deepkb::testing::RunShell;

class KeysCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("keys_cli_test_" + deepkb::RandomHex(6));
    fs::create_directories(root_);
  }
  void TearDown() override {
    StopServer();
    fs::remove_all(root_);
  }

  // Runs deepkb; `err` = also capture stderr (after stdout).
  CmdResult Deepkb(const std::string& args, bool err = false, const std::string& env = "") {
    const std::string cmd = env + " " + std::string(DEEPKB_BIN) + " --data-dir " +
                            Quote((root_ / "data").string()) + " " + args +
                            (err ? " 2>&1" : " 2>/dev/null");
    return RunShell(cmd);
  }

  json DeepkbJson(const std::string& args, const std::string& env = "") {
    CmdResult r = Deepkb(args, false, env);
    EXPECT_EQ(r.code, 0) << args << "\n" << r.out;
    auto j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.out;
    return j;
  }

  void StartServer() {
    ASSERT_EQ(server_.Start(DEEPKB_BIN, (root_ / "data").string()), "");
    url_ = server_.url();
    admin_key_ = server_.admin_key();
  }
  void StopServer() { server_.Stop(); }

  fs::path root_;
  deepkb::testing::ServeProcess server_;
  std::string url_, admin_key_;
};

TEST_F(KeysCliTest, CreateListRevokeOnTheDataDirectory) {
  json k = DeepkbJson("keys create --role reader --collection a --collection b --expires 90d --json");
  std::vector<std::string> fields;
  for (const auto& [name, v] : k.items()) fields.push_back(name);
  EXPECT_EQ(fields, (std::vector<std::string>{"collections", "expires", "id", "key", "role"}));
  EXPECT_EQ(k["role"], "reader");
  EXPECT_EQ(k["collections"], json::array({"a", "b"}));
  ASSERT_TRUE(k["expires"].is_string());
  EXPECT_EQ(k["key"].get<std::string>().size(), 85u);
  const std::string id = k["id"];

  json admin = DeepkbJson("keys create --role admin --json");
  EXPECT_TRUE(admin["expires"].is_null());
  EXPECT_EQ(admin["collections"], json::array());

  CmdResult list_text = Deepkb("keys list");
  EXPECT_EQ(list_text.code, 0);
  EXPECT_NE(list_text.out.find(id), std::string::npos);
  EXPECT_EQ(list_text.out.find(k["key"].get<std::string>().substr(21)), std::string::npos);

  json list = DeepkbJson("keys list --json");
  ASSERT_EQ(list["keys"].size(), 2u);
  EXPECT_EQ(list.dump().find(k["key"].get<std::string>().substr(21)), std::string::npos);
  for (const auto& e : list["keys"]) EXPECT_EQ(e["active"], true);

  CmdResult rv = Deepkb("keys revoke " + id);
  EXPECT_EQ(rv.code, 0) << rv.out;
  const json after_revoke = DeepkbJson("keys list --json");
  for (const auto& e : after_revoke["keys"]) {
    if (e["id"] == id) {
      EXPECT_EQ(e["revoked"], true);
      EXPECT_EQ(e["active"], false);
    }
  }
  // Text create prints the key on its own line.
  CmdResult text = Deepkb("keys create --role writer");
  EXPECT_EQ(text.code, 0);
  EXPECT_TRUE(std::regex_search(text.out, std::regex("\ndkb_[0-9a-f]{16}_[0-9a-f]{64}\n")))
      << text.out;
}

TEST_F(KeysCliTest, ErrorsAndExitCodes) {
  CmdResult bad_dur = Deepkb("keys create --role reader --expires 1y", true);
  EXPECT_EQ(bad_dur.code, 2);
  EXPECT_NE(bad_dur.out.find("e.g. 90d"), std::string::npos) << bad_dur.out;
  EXPECT_EQ(Deepkb("keys create --role root").code, 2);
  EXPECT_EQ(Deepkb("keys create").code, 2);
  CmdResult bad_coll = Deepkb("keys create --role reader --collection '../x'", true);
  EXPECT_EQ(bad_coll.code, 2);
  EXPECT_NE(bad_coll.out.find("collection name"), std::string::npos) << bad_coll.out;
  EXPECT_EQ(Deepkb("keys create --role admin --collection a").code, 2);
  EXPECT_EQ(Deepkb("keys revoke 0123456789abcdef").code, 3);
  EXPECT_EQ(Deepkb("keys revoke ../../x").code, 2);

  // The last active admin key stays.
  json a = DeepkbJson("keys create --role admin --json");
  CmdResult last = Deepkb("keys revoke " + a["id"].get<std::string>(), true);
  EXPECT_EQ(last.code, 1);
  EXPECT_NE(last.out.find("last active admin"), std::string::npos) << last.out;
}

TEST_F(KeysCliTest, WhileAServerHoldsTheDirectoryUseServer) {
  StartServer();
  CmdResult direct = Deepkb("keys list", true);
  EXPECT_EQ(direct.code, 5);
  EXPECT_NE(direct.out.find("--server"), std::string::npos) << direct.out;

  const std::string remote = "--server " + url_ + " --api-key " + admin_key_;
  json created = DeepkbJson("keys create --role writer --collection docs --expires 12h --json " + remote);
  EXPECT_EQ(created["role"], "writer");
  EXPECT_EQ(created["collections"], json::array({"docs"}));
  const std::string id = created["id"];

  // DEEPKB_API_KEY works as well as --api-key.
  json list = DeepkbJson("keys list --json --server " + url_, "DEEPKB_API_KEY=" + admin_key_);
  EXPECT_EQ(list["keys"].size(), 2u);  // the first-start admin key and the writer

  EXPECT_EQ(Deepkb("keys revoke " + id + " " + remote).code, 0);
  EXPECT_EQ(Deepkb("keys revoke 0123456789abcdef " + remote).code, 3);
  // The last admin key cannot go over HTTP either (412 → exit 1).
  CmdResult last = Deepkb("keys revoke " + admin_key_.substr(4, 16) + " " + remote, true);
  EXPECT_EQ(last.code, 1);
  EXPECT_NE(last.out.find("last active admin"), std::string::npos) << last.out;

  // A non-admin key is refused (403 → exit 4); a revoked or wrong key (401 → exit 4); no key (2).
  json reader = DeepkbJson("keys create --role reader --json " + remote);
  CmdResult as_reader =
      Deepkb("keys list --server " + url_ + " --api-key " + reader["key"].get<std::string>(), true);
  EXPECT_EQ(as_reader.code, 4) << as_reader.out;
  EXPECT_NE(as_reader.out.find("admin"), std::string::npos) << as_reader.out;
  EXPECT_EQ(Deepkb("keys list --server " + url_ + " --api-key " + created["key"].get<std::string>())
                .code,
            4);
  EXPECT_EQ(Deepkb("keys list --server " + url_ + " --api-key dkb_nope").code, 4);
  EXPECT_EQ(Deepkb("keys list --server " + url_).code, 2);
  EXPECT_EQ(Deepkb("keys list --server http://127.0.0.1:1 --api-key x").code, 5);
  EXPECT_EQ(Deepkb("keys list --server not-a-url --api-key x").code, 2);

  // Direct access works again once the server is gone.
  StopServer();
  json after = DeepkbJson("keys list --json");
  EXPECT_EQ(after["keys"].size(), 3u);
}

}  // namespace
