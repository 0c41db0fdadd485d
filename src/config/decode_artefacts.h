// Internal: the rotated artefacts of spec.security (feature "artefacts"):
// caBundles, certificates, jwks and extAuthz, and the private-key scan that
// keeps private material out of every layer (documents.md, "Rotated
// artefacts"; codes private_key_material and invalid_certificate).
#pragma once

#include "decode_primitives.h"
#include "omnirelay/config/model.h"

namespace omnirelay::internal {

// Each reads one map of named artefacts into `out`, reporting problems under
// the decoder's current pointer; entries with problems are left out.
void DecodeCaBundles(Decoder& d, element el, std::vector<Named<CaBundle>>& out);
void DecodeCertificates(Decoder& d, element el, std::vector<Named<LeafCertificate>>& out);
void DecodeJwkSets(Decoder& d, element el, std::vector<Named<JwkSet>>& out);
void DecodeExtAuthz(Decoder& d, element el, std::vector<Named<ExtAuthz>>& out);

// Reports private_key_material at the pointer of every string anywhere in
// `el` that holds a PEM private key block, and of every private member
// (d, p, q, dp, dq, qi, oth, k) of an object that is a JWK (has "kty").
// Run on a whole layer before it is stored: a layer is a merge patch that
// is only schema-checked once merged, and a key must not be stored at all.
void FindPrivateKeyMaterial(Decoder& d, element el);

}  // namespace omnirelay::internal
