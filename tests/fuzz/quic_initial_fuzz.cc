// Fuzzes the QUIC path of a client's first flight: long-header parsing of coalesced packets,
// Initial decryption, the frame walk, CRYPTO reassembly and the ClientHello parser. Random bytes
// almost never decrypt, so the first input byte picks what the rest is:
//   0: client datagrams as they arrive (2-byte big-endian length, then that many bytes, ...),
//      read in turn into one flow's state;
//   1: the plaintext payload of Initial packets (same framing), sealed here with the Initial
//      keys of a fixed DCID and version (from the next byte) so the whole decrypt path runs;
//   2: a CRYPTO stream, parsed as a QUIC ClientHello.
// Invariants: nothing crashes or reads out of bounds (sanitizers), the assembled stream stays
// within its buffer, and counts add up.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dataplane/core/quic_initial_reader.h"
#include "dataplane/core/tls_client_hello.h"
#include "tests/dataplane/core/quic_initial_builder.h"

namespace {

constexpr uint32_t kCap = 16384;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_hello(const sluice::ClientHelloInfo& info) {
  check(info.sni_length <= sluice::kMaxSniLength);
  check(info.alpn_length <= sluice::kMaxAlpnBytes);
  check(info.version_count <= sluice::kMaxTlsVersions);
  check(info.ja4[0] == '\0' || info.ja4[0] == 'q');
}

// Splits the input into length-prefixed pieces.
std::vector<sluice::ByteSpan> pieces(const uint8_t* data, size_t size) {
  std::vector<sluice::ByteSpan> out;
  size_t pos = 0;
  while (pos + 2 <= size && out.size() < 16) {
    const size_t n = std::min<size_t>((size_t{data[pos]} << 8) | data[pos + 1], size - pos - 2);
    out.emplace_back(data + pos + 2, n);
    pos += 2 + n;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sluice::QuicInitialReader reader;  // per-worker object: made once, reused
  static std::vector<uint8_t> bytes(kCap);
  static std::vector<uint64_t> seen(kCap / 64);
  if (size < 1) return 0;
  const uint8_t mode = data[0] % 3;
  ++data;
  --size;

  sluice::StreamAssembler stream;
  stream.reset(0, bytes, seen);
  sluice::QuicFlightState state;
  sluice::ClientHelloInfo info;

  if (mode == 2) {
    sluice::parse_quic_client_hello(sluice::ByteSpan(data, size), info);
    check_hello(info);
    return 0;
  }
  uint32_t version = sluice::kQuicVersion1;
  if (mode == 1) {
    if (size < 1) return 0;
    const uint32_t versions[] = {sluice::kQuicVersion1, sluice::kQuicVersion2,
                                 sluice::kQuicDraft29, sluice::kQuicDraft34};
    version = versions[data[0] % 4];
    ++data;
    --size;
  }
  uint32_t packet_number = 0;
  for (sluice::ByteSpan piece : pieces(data, size)) {
    std::vector<uint8_t> datagram;
    if (mode == 1) {
      sluice::test::QuicInitialSpec spec;
      spec.version = version;
      spec.packet_number = packet_number++;
      spec.frames.assign(piece.begin(), piece.end());
      datagram = sluice::test::build_quic_initial(spec);
      piece = datagram;
    }
    const sluice::QuicDatagramResult r = reader.read(piece, state, stream);
    check(stream.contiguous_length() <= stream.capacity());
    if (mode == 1) check(r.initials + r.undecryptable == 1);
    if (r.initials > 0) check(state.keys_ready);
  }
  const sluice::HelloStatus status = sluice::parse_quic_client_hello(stream.contiguous(), info);
  check_hello(info);
  if (status == sluice::HelloStatus::kMalformed) check(info.anomalies.has(sluice::Anomaly::kTlsMalformed));
  return 0;
}
