// Server names as read from untrusted bytes (TLS SNI, HTTP Host): host-name syntax checking and
// the normalised form that policy matching and the audit record see.
#pragma once

#include <string_view>

#include "dataplane/core/bytes.h"
#include "dataplane/core/tls_client_hello.h"

namespace sluice {

// Host-name syntax as seen in the wild: labels of 1-63 chars [a-z0-9-_] (underscore is not in
// RFC 1123 but real names use it), not starting or ending with '-', no empty label, at most 253
// chars. Expects a lower-cased name without its trailing dot.
bool is_valid_host_name(std::string_view name);

// The normalised form's first step: `raw` lower-cased into `out`, one trailing dot dropped (not
// from "." itself). Returns the length; 0 when `raw` is empty or longer than `cap`. No syntax
// check: is_valid_host_name() is the caller's.
size_t lower_host_name(ByteSpan raw, char* out, size_t cap);

// Stores a server_name host_name into `info`:
//  - valid: lower-cased, one trailing dot removed;
//  - invalid (sni_valid = false, anomaly sni_invalid): lower-cased but otherwise as sent, with
//    every byte outside '!'..'~' and every backslash written as \xHH, cut at kMaxSniLength on
//    an escape boundary. So the name is always printable, unambiguous and safe to log.
//  - empty: nothing stored, anomaly sni_empty.
void store_sni(ByteSpan raw, ClientHelloInfo& info);

}  // namespace sluice
