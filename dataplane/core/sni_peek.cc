#include "dataplane/core/sni_peek.h"

#include <algorithm>

#include "dataplane/core/sni_name.h"

namespace sluice {

std::string_view peek_client_hello_sni(ByteSpan segment, std::array<char, kMaxSniLength>& buf) {
  // Record header: handshake (22), version, length; the hello must start in this record.
  if (segment.size() < 5 + 4 || segment[0] != 22 || segment[5] != 1) return {};
  const size_t record = load_be16(segment.data() + 3);
  ByteReader r(segment.subspan(5, std::min(record, segment.size() - 5)));
  ByteSpan skipped;
  if (!r.skip(4 + 2 + 32) || !r.vec8(skipped) || !r.vec16(skipped) || !r.vec8(skipped))
    return {};
  // The extensions block's length is not checked against the segment: it may go on past it,
  // and only what is here is walked.
  if (!r.skip(2)) return {};
  while (true) {
    uint16_t type;
    ByteSpan body;
    if (!r.u16(type) || !r.vec16(body)) return {};
    if (type != 0) continue;
    ByteReader names(body);
    ByteSpan list, name;
    uint8_t name_type;
    if (!names.vec16(list)) return {};
    ByteReader entries(list);
    if (!entries.u8(name_type) || name_type != 0 || !entries.vec16(name)) return {};
    const size_t n = lower_host_name(name, buf.data(), buf.size());
    if (n == 0) return {};
    return {buf.data(), n};
  }
}

}  // namespace sluice
