// A quick look for the server name in a segment that starts a TLS ClientHello, before the
// segment is reassembled, checked and parsed for real. It is only a hint: the worker uses it to
// start loading the policy's name-table lines while the rest of its burst is processed, so the
// lookup that the verdict makes later finds them in cache. Nothing is decided from it, and a
// name it gets wrong or misses costs a wasted prefetch, no more. Pure function, bounds-checked:
// the bytes are untrusted.
#pragma once

#include <array>
#include <string_view>

#include "dataplane/core/bytes.h"
#include "dataplane/core/tls_client_hello.h"

namespace sluice {

// The first host_name of the server_name extension, lower-cased, one trailing dot removed, if
// `segment` begins with a handshake record holding a ClientHello whose extensions up to that one
// lie inside both the record and the segment; empty otherwise. The view points into `buf`.
std::string_view peek_client_hello_sni(ByteSpan segment, std::array<char, kMaxSniLength>& buf);

}  // namespace sluice
