// Test PKI made with the openssl CLI in a temp dir: a CA, a server
// certificate for 127.0.0.1 / localhost and a client certificate signed by
// it, and an unrelated "rogue" CA with its own client. For TLS/mTLS tests.
// More leaves (with SPIFFE IDs as URI SANs, or already expired) on demand.
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

  // A client (or, with `server`, a server) certificate `name` signed by
  // `ca`, with `uri` (a SPIFFE ID) as a URI SAN when not empty.
  bool AddLeaf(const std::string& name, const std::string& ca, const std::string& uri,
               bool server = false) {
    return MakeLeaf(name, ca, server, uri);
  }
  // A client certificate valid in 2020 only, with `uri` as a URI SAN.
  bool AddExpiredLeaf(const std::string& name, const std::string& ca, const std::string& uri) {
    std::ofstream(dir_ / (name + ".ext"))
        << "extendedKeyUsage=clientAuth\nsubjectAltName=URI:" << uri << "\n";
    std::ofstream(dir_ / "ca.cnf")
        << "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n"
           "policy=p\ndefault_md=sha256\n[p]\ncommonName=supplied\n";
    std::ofstream(dir_ / "index.txt", std::ios::trunc);
    std::ofstream(dir_ / "serial") << "1000\n";
    return Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + name +
               " -keyout " + name + ".key -out " + name + ".csr") &&
           Run("openssl ca -batch -config ca.cnf -cert " + ca + ".crt -keyfile " + ca +
               ".key -in " + name + ".csr -out " + name +
               ".crt -startdate 20200101000000Z -enddate 20200102000000Z -extfile " + name +
               ".ext");
  }
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
  bool MakeLeaf(const std::string& name, const std::string& ca, bool server,
                const std::string& uri = "") {
    const std::string uri_san = uri.empty() ? "" : ",URI:" + uri;
    const std::string ext = server ? "subjectAltName=IP:127.0.0.1,DNS:localhost" + uri_san +
                                         "\nextendedKeyUsage=serverAuth\n"
                            : uri.empty()
                                ? "extendedKeyUsage=clientAuth\n"
                                : "extendedKeyUsage=clientAuth\nsubjectAltName=URI:" + uri + "\n";
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
