// Test PKI made with the openssl CLI in a temp dir: a CA, a server
// certificate for 127.0.0.1 / localhost and a client certificate signed by
// it, and an unrelated "rogue" CA with its own client. For TLS/mTLS tests.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace omnirelay::cp::testing {

inline std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A CA, a server certificate for 127.0.0.1/localhost and a client
// certificate, both signed by the CA; plus an unrelated "rogue" CA+client.
class Pki {
 public:
  Pki() {
    dir_ = std::filesystem::temp_directory_path() /
           ("omni-pki-" + std::to_string(::getpid()) + "-" + std::to_string(++Counter()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    ok_ = MakeCa("ca") && MakeCa("rogue-ca") && MakeLeaf("server", "ca", true) &&
          MakeLeaf("client", "ca", false) && MakeLeaf("rogue-client", "rogue-ca", false);
  }
  ~Pki() { std::filesystem::remove_all(dir_); }

  bool ok() const { return ok_; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string pem(const std::string& name) const { return ReadAll(dir_ / name); }

 private:
  static int& Counter() {
    static int n = 0;
    return n;
  }
  bool Run(const std::string& cmd) {
    return std::system(("cd " + dir_.string() + " && " + cmd + " >/dev/null 2>&1").c_str()) == 0;
  }
  bool MakeCa(const std::string& name) {
    return Run(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
        "-subj /CN=" +
        name + " -keyout " + name + ".key -out " + name + ".crt");
  }
  bool MakeLeaf(const std::string& name, const std::string& ca, bool server) {
    const std::string ext =
        server ? "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
               : "extendedKeyUsage=clientAuth\n";
    std::ofstream(dir_ / (name + ".ext")) << ext;
    return Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + name +
               " -keyout " + name + ".key -out " + name + ".csr") &&
           Run("openssl x509 -req -in " + name + ".csr -CA " + ca + ".crt -CAkey " + ca +
               ".key -CAcreateserial -days 2 -extfile " + name + ".ext -out " + name + ".crt");
  }

  std::filesystem::path dir_;
  bool ok_ = false;
};

}  // namespace omnirelay::cp::testing
