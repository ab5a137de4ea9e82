// Fuzzes the L2-L4 parser and IP reassembly. An input is a sequence of frames, each prefixed by
// its length (2 bytes, big-endian; the last frame takes whatever is left), so that one input can
// carry all the fragments of a datagram. The reassembler lives in a static (building its tables
// per input would dominate the run time) and is emptied after every input, so each input is
// judged on its own and a crash reproduces from that input alone.
#include <cstddef>
#include <cstdint>

#include "dataplane/core/ip_reassembly.h"
#include "dataplane/core/packet.h"

namespace {

using sluice::ByteSpan;

constexpr uint64_t kStepNs = 1'000'000;
constexpr uint64_t kTimeoutNs = 50 * kStepNs;

sluice::IpReassembler& reassembler() {
  // Small limits so table-full, too-many-fragments and too-large are all within reach.
  static sluice::IpReassembler instance([] {
    sluice::IpReassemblyConfig config;
    config.max_datagrams = 4;
    config.max_datagram_bytes = 4096;
    config.max_fragments = 16;
    config.timeout_ns = kTimeoutNs;
    return config;
  }());
  return instance;
}

bool within(ByteSpan inner, ByteSpan outer) {
  if (inner.empty()) return true;
  return inner.data() >= outer.data() &&
         inner.data() + inner.size() <= outer.data() + outer.size();
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void parse_one(ByteSpan frame, uint64_t now_ns, sluice::WorkerStats& stats) {
  sluice::ParseOptions verify;
  sluice::ParseOptions lenient;
  lenient.verify_checksums = false;

  sluice::ParsedPacket p;
  sluice::ParseResult r = sluice::parse_frame(frame, verify, p);
  check(r.status != sluice::ParseStatus::kMalformed || r.reason < sluice::Malformed::kCount);
  if (r.status == sluice::ParseStatus::kOk) check(within(p.payload, frame));

  // Without checksum verification more fragments get through to the reassembler.
  r = sluice::parse_frame(frame, lenient, p);
  if (r.status == sluice::ParseStatus::kOk) {
    check(within(p.payload, frame));
    check(p.l4_checksum == sluice::ChecksumState::kUnchecked);
  }
  if (r.status != sluice::ParseStatus::kFragment) return;
  check(within(p.l3_payload, frame));
  ByteSpan l4;
  if (reassembler().add(p, now_ns, stats, l4) != sluice::IpReassembler::Result::kComplete) return;
  check(!l4.empty() && l4.size() <= 4096);
  r = sluice::parse_l4(l4, verify, p);
  if (r.status == sluice::ParseStatus::kOk) check(within(p.payload, l4));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sluice::WorkerStats stats;
  uint64_t now_ns = 1;
  ByteSpan input(data, size);
  while (input.size() >= 2) {
    size_t len = sluice::load_be16(input.data());
    input = input.subspan(2);
    if (len > input.size()) len = input.size();
    parse_one(input.first(len), now_ns, stats);
    input = input.subspan(len);
    now_ns += kStepNs;
    // Some inputs are long enough to make datagrams time out mid-way.
    if (now_ns % (16 * kStepNs) == 1) reassembler().expire(now_ns, stats);
  }
  reassembler().expire(now_ns + 2 * kTimeoutNs, stats);  // the next input starts empty
  check(reassembler().in_progress() == 0);
  return 0;
}
