// Content digests and base64: the snapshot id / HTTP ETag (DESIGN.md §3.3)
// and the byte encodings signed envelopes and key files use.
//
// Thread safety: free functions without shared state; call from any thread.
#pragma once

#include <string>
#include <string_view>

#include "omnirelay/config/status.h"

namespace omnirelay {

// SHA-256 of `bytes` as 64 lowercase hex characters.
std::string Sha256Hex(std::string_view bytes);

// "sha256:" + Sha256Hex(bytes): the id of a snapshot and its HTTP ETag.
std::string ContentId(std::string_view bytes);

// Standard base64 (RFC 4648 §4: "A-Za-z0-9+/"), padded with '='.
std::string Base64Encode(std::string_view bytes);

// Strict inverse of Base64Encode: only the canonical encoding of some byte
// string is accepted. Rejects, with kInvalidArgument: a length that is not a
// multiple of 4, characters outside the alphabet (whitespace and the URL-safe
// alphabet included), '=' anywhere but the last one or two positions, and
// non-zero unused bits before the padding. Vectorised on AVX2 machines.
Result<std::string> Base64Decode(std::string_view text);

// As Base64Decode, appending the bytes to `out` (so a caller can decode right
// after a header it has already written). Reserve the room beforehand
// (Base64DecodedSize) to avoid a reallocation. On error `out` is restored to
// its previous size.
Status Base64DecodeAppend(std::string_view text, std::string& out);

// The number of bytes `text` decodes to if it is valid base64; unspecified
// (but never more than text.size() * 3 / 4) when it is not.
std::size_t Base64DecodedSize(std::string_view text);

}  // namespace omnirelay
