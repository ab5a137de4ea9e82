// Fuzzes the handoff message decoder (interceptor/handoff/handoff_message.h): the interceptor
// reads datagrams from the TAP, which is reachable by anything that can send to the appliance
// address. Every decoded message must re-encode to the same bytes (when its header is the
// version-1 size), and the hello view must lie inside the datagram.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "interceptor/handoff/handoff_message.h"

namespace {
void check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sluice::handoff;
  const std::span<const uint8_t> in(data, size);
  (void)message_type(in);
  absl::StatusOr<Handoff> h = decode_handoff(in);
  if (!h.ok()) return 0;
  check(h->hello.empty() ||
        (h->hello.data() >= data && h->hello.data() + h->hello.size() <= data + size));
  check(h->client_wscale >= -1 && h->client_wscale <= 14);
  std::vector<uint8_t> out(kMaxMessageBytes);
  const size_t n = encode_handoff(*h, out.data(), out.size());
  check(n == kHandoffHeaderBytes + h->hello.size());
  if (size >= 8 && ((data[6] << 8) | data[7]) == kHandoffHeaderBytes) {
    // Reserved bytes (62..63) are written as zero; everything else must survive.
    std::vector<uint8_t> want(data, data + size);
    want[62] = want[63] = 0;
    check(n == size && std::memcmp(out.data(), want.data(), size) == 0);
  }
  return 0;
}
