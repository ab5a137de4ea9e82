#include "interceptor/handoff/handoff_message.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sluice::handoff {
namespace {

constexpr uint8_t kMagic[4] = {'S', 'L', 'H', 'O'};
constexpr uint8_t kFlagSack = 1;
constexpr uint8_t kFlagTimestamps = 2;
constexpr uint8_t kV4Prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t get32(const uint8_t* p) { return (uint32_t{get16(p)} << 16) | get16(p + 2); }

void put_prefix(uint8_t* out, MessageType type, size_t header, size_t total) {
  std::memcpy(out, kMagic, 4);
  out[4] = kVersion;
  out[5] = static_cast<uint8_t>(type);
  put16(out + 6, static_cast<uint16_t>(header));
  put32(out + 8, static_cast<uint32_t>(total));
}

bool valid_wscale(int8_t s) { return s >= -1 && s <= 14; }

}  // namespace

bool Address::is_v4() const { return std::memcmp(bytes.data(), kV4Prefix, 12) == 0; }

size_t encode_handoff(const Handoff& h, uint8_t* out, size_t capacity) {
  const size_t total = kHandoffHeaderBytes + h.hello.size();
  if (h.hello.size() > kMaxHelloBytes || total > capacity) return 0;
  put_prefix(out, MessageType::kHandoff, kHandoffHeaderBytes, total);
  out[12] = h.client.is_v4() ? 4 : 6;
  out[13] = static_cast<uint8_t>((h.sack_permitted ? kFlagSack : 0) |
                                 (h.timestamps ? kFlagTimestamps : 0));
  out[14] = static_cast<uint8_t>(h.client_wscale);
  out[15] = static_cast<uint8_t>(h.server_wscale);
  std::memcpy(out + 16, h.client.bytes.data(), 16);
  std::memcpy(out + 32, h.server.bytes.data(), 16);
  put16(out + 48, h.client.port);
  put16(out + 50, h.server.port);
  put32(out + 52, h.client_isn);
  put32(out + 56, h.server_isn);
  put16(out + 60, h.client_mss);
  put16(out + 62, 0);
  put32(out + 64, h.server_tsval);
  put32(out + 68, h.client_tsval);
  put32(out + 72, h.client_window);
  put32(out + 76, h.server_window);
  put32(out + 80, static_cast<uint32_t>(h.flow_id >> 32));
  put32(out + 84, static_cast<uint32_t>(h.flow_id));
  if (!h.hello.empty()) std::memcpy(out + kHandoffHeaderBytes, h.hello.data(), h.hello.size());
  return total;
}

size_t encode_heartbeat(uint8_t* out, size_t capacity) {
  if (capacity < kPrefixBytes) return 0;
  put_prefix(out, MessageType::kHeartbeat, kPrefixBytes, kPrefixBytes);
  return kPrefixBytes;
}

absl::StatusOr<MessageType> message_type(std::span<const uint8_t> d) {
  if (d.size() < kPrefixBytes)
    return absl::InvalidArgumentError(
        absl::StrCat("handoff message: ", d.size(), " bytes, shorter than its 12-byte prefix"));
  if (std::memcmp(d.data(), kMagic, 4) != 0)
    return absl::InvalidArgumentError("handoff message: no SLHO magic (not from sluice)");
  if (d[4] != kVersion)
    return absl::InvalidArgumentError(absl::StrCat("handoff message: version ", d[4],
                                                   ", this build reads version ", kVersion));
  const size_t header = get16(d.data() + 6);
  const size_t total = get32(d.data() + 8);
  if (total != d.size())
    return absl::InvalidArgumentError(absl::StrCat("handoff message: says ", total,
                                                   " bytes, the datagram has ", d.size()));
  if (header < kPrefixBytes || header > total)
    return absl::InvalidArgumentError(
        absl::StrCat("handoff message: header length ", header, " outside 12..", total));
  switch (d[5]) {
    case static_cast<uint8_t>(MessageType::kHandoff):
      return MessageType::kHandoff;
    case static_cast<uint8_t>(MessageType::kHeartbeat):
      return MessageType::kHeartbeat;
    default:
      return absl::InvalidArgumentError(absl::StrCat("handoff message: unknown type ", d[5]));
  }
}

absl::StatusOr<Handoff> decode_handoff(std::span<const uint8_t> d) {
  absl::StatusOr<MessageType> type = message_type(d);
  if (!type.ok()) return type.status();
  if (*type != MessageType::kHandoff)
    return absl::InvalidArgumentError("handoff message: a heartbeat, not a handoff");
  const size_t header = get16(d.data() + 6);
  if (header < kHandoffHeaderBytes)
    return absl::InvalidArgumentError(absl::StrCat("handoff message: header of ", header,
                                                   " bytes, a handoff needs ",
                                                   kHandoffHeaderBytes));
  Handoff h;
  const uint8_t family = d[12];
  if (family != 4 && family != 6)
    return absl::InvalidArgumentError(absl::StrCat("handoff message: address family ", family));
  const uint8_t flags = d[13];
  if (flags & ~(kFlagSack | kFlagTimestamps))
    return absl::InvalidArgumentError(absl::StrCat("handoff message: unknown flags ", flags));
  h.sack_permitted = flags & kFlagSack;
  h.timestamps = flags & kFlagTimestamps;
  h.client_wscale = static_cast<int8_t>(d[14]);
  h.server_wscale = static_cast<int8_t>(d[15]);
  if (!valid_wscale(h.client_wscale) || !valid_wscale(h.server_wscale))
    return absl::InvalidArgumentError("handoff message: window scale outside -1..14");
  std::memcpy(h.client.bytes.data(), d.data() + 16, 16);
  std::memcpy(h.server.bytes.data(), d.data() + 32, 16);
  if (h.client.is_v4() != (family == 4) || h.server.is_v4() != (family == 4))
    return absl::InvalidArgumentError("handoff message: addresses do not match the family");
  h.client.port = get16(d.data() + 48);
  h.server.port = get16(d.data() + 50);
  if (h.client.port == 0 || h.server.port == 0)
    return absl::InvalidArgumentError("handoff message: port 0");
  h.client_isn = get32(d.data() + 52);
  h.server_isn = get32(d.data() + 56);
  h.client_mss = get16(d.data() + 60);
  h.server_tsval = get32(d.data() + 64);
  h.client_tsval = get32(d.data() + 68);
  h.client_window = get32(d.data() + 72);
  h.server_window = get32(d.data() + 76);
  h.flow_id = (uint64_t{get32(d.data() + 80)} << 32) | get32(d.data() + 84);
  h.hello = d.subspan(header);
  if (h.hello.size() > kMaxHelloBytes)
    return absl::InvalidArgumentError("handoff message: ClientHello bytes over the cap");
  return h;
}

}  // namespace sluice::handoff
