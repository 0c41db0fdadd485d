// TLS for the control plane's two faces (DESIGN.md §4: "TLS and mTLS when
// certificates are configured"). With no certificate configured both faces
// speak plaintext — meant for loopback only. With a certificate and key they
// serve TLS; adding a client CA turns on mTLS: every client (operator,
// automation, node) must present a certificate that chains to that CA, on top
// of its bearer token.
//
// Thread safety: plain data and a pure function.
#pragma once

#include <string>

#include "omnirelay/config/status.h"

namespace omnirelay::cp {

struct TlsOptions {
  std::string cert_file;       // PEM server certificate (chain); empty = no TLS
  std::string key_file;        // PEM private key of that certificate
  std::string client_ca_file;  // PEM CA bundle; non-empty = require client certificates

  bool enabled() const { return !cert_file.empty(); }
  bool mutual() const { return !client_ca_file.empty(); }
};

// The PEM contents behind TlsOptions, read and sanity-checked once at start.
struct TlsMaterial {
  TlsOptions files;
  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;
};

// Reads and checks the files: a certificate needs a key (and the reverse), a
// client CA needs a certificate, each file must exist, be readable and hold a
// PEM block. kInvalidArgument for a wrong combination, kIoError for a file
// that cannot be read, kInvalid for one that is not PEM.
Result<TlsMaterial> LoadTls(const TlsOptions& options);

}  // namespace omnirelay::cp
