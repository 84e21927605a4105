// Test certificates made with the openssl CLI at test time: a CA, a server certificate for
// 127.0.0.1/localhost signed by it (server.pem/server.key), a client certificate signed by it
// (client.pem/client.key, CN=node-b), and an unrelated key (other.key).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace deepkb::testing {

inline int Sh(const std::string& cmd) {
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Writes the files into `d` (which must exist). Use with ASSERT_NO_FATAL_FAILURE.
inline void MakeCertificates(const std::filesystem::path& d) {
  const std::string q = " >/dev/null 2>&1";
  const std::string dir = d.string();
  ASSERT_EQ(Sh("cd '" + dir + "' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
               "-nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=deepkb-test-ca" + q), 0);
  std::ofstream(d / "san.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  ASSERT_EQ(Sh("cd '" + dir + "' && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
               "-nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1" + q), 0);
  ASSERT_EQ(Sh("cd '" + dir + "' && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
               "-CAcreateserial -out server.pem -days 2 -extfile san.ext" + q), 0);
  ASSERT_EQ(Sh("cd '" + dir + "' && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
               "-nodes -keyout client.key -out client.csr -subj /CN=node-b" + q), 0);
  ASSERT_EQ(Sh("cd '" + dir + "' && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
               "-CAcreateserial -out client.pem -days 2" + q), 0);
  ASSERT_EQ(Sh("cd '" + dir + "' && openssl genpkey -algorithm EC -pkeyopt "
               "ec_paramgen_curve:P-256 -out other.key" + q), 0);
}

}  // namespace deepkb::testing
