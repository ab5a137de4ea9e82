#include "dataplane/dpdk/audit_ring.h"

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace sluice {
namespace {
// Whole cache lines (the ring's memory is line-aligned), so that an event's first byte starts
// a line and a close event is two lines, not three.
constexpr unsigned kElementSize = kAuditSlotBytes;
static_assert(kElementSize % 4 == 0, "DPDK ring elements are a multiple of 4 bytes");
// How much of the next slot publish() asks for ahead: a close event, or a TLS verdict whose
// name is up to ~40 bytes.
constexpr unsigned kPrefetchBytes = 9 * 64;
static_assert(kPrefetchBytes <= kElementSize);
}  // namespace

absl::StatusOr<std::unique_ptr<AuditRing>> AuditRing::create(const std::string& name,
                                                             unsigned capacity) {
  rte_ring* ring = rte_ring_create_elem(name.c_str(), kElementSize, rte_align32pow2(capacity),
                                        rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (ring == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot create audit ring ", name, ": ",
                                                     rte_strerror(rte_errno),
                                                     " (raise the EAL memory, -m)"));
  }
  return std::unique_ptr<AuditRing>(new AuditRing(ring));
}

AuditRing::~AuditRing() { rte_ring_free(ring_); }

unsigned AuditRing::free_count() const { return rte_ring_free_count(ring_); }

// Both sides copy events straight into and out of the ring's own memory (DPDK's zero-copy
// calls, which a single-producer, single-consumer ring allows), and only the bytes that carry
// anything (AuditEvent::wire_size): a close event is its first two lines, a TLS verdict stops
// after its server name. The slots stay whole events; the tail of one is never written or read.
bool AuditRing::publish(const AuditEvent& event) {
  rte_ring_zc_data zc;
  if (rte_ring_enqueue_zc_bulk_elem_start(ring_, kElementSize, 1, &zc, nullptr) != 1) return false;
  std::memcpy(zc.ptr1, &event, event.wire_size());
  rte_ring_enqueue_zc_elem_finish(ring_, 1);
  // The next event goes into the slot after this one (unless the ring wraps: then this is a
  // harmless miss). The ring is far larger than the cache, so that slot's lines must come from
  // memory before they can be written; asking for them now lets that happen while the worker
  // goes on, instead of when the next event is copied. As far as a verdict with a short name
  // goes: the lines of a longer one are fetched when it is copied.
  const char* next = static_cast<const char*>(zc.ptr1) + kElementSize;
  for (unsigned off = 0; off < kPrefetchBytes; off += 64) __builtin_prefetch(next + off, 1);
  return true;
}

namespace {
// One slot out: the bytes its event carries, the rest as in a default event. The lengths that
// say how far a verdict goes are read from `out`, after they have been copied into it.
void copy_out(const void* slot, AuditEvent& out) {
  out = AuditEvent{};
  constexpr size_t kBoth = offsetof(AuditEvent, rule);  // what a close event is
  constexpr size_t kVerdictFixed = offsetof(AuditEvent, hello) + offsetof(ClientHelloInfo, sni);
  std::memcpy(static_cast<void*>(&out), slot, kBoth);
  if (out.kind == AuditKind::kClose) return;
  std::memcpy(reinterpret_cast<char*>(&out) + kBoth, static_cast<const char*>(slot) + kBoth,
              kVerdictFixed - kBoth);
  const size_t n = std::min(out.wire_size(), sizeof(AuditEvent));
  std::memcpy(reinterpret_cast<char*>(&out) + kVerdictFixed,
              static_cast<const char*>(slot) + kVerdictFixed, n - kVerdictFixed);
}
}  // namespace

unsigned AuditRing::drain(AuditEvent* out, unsigned max) {
  rte_ring_zc_data zc;
  const unsigned n = rte_ring_dequeue_zc_burst_elem_start(ring_, kElementSize, max, &zc, nullptr);
  if (n == 0) return 0;
  for (unsigned i = 0; i < zc.n1; ++i) copy_out(static_cast<const char*>(zc.ptr1) + size_t{i} * kElementSize, out[i]);
  for (unsigned i = zc.n1; i < n; ++i)  // the burst wrapped around the end of the ring
    copy_out(static_cast<const char*>(zc.ptr2) + size_t{i - zc.n1} * kElementSize, out[i]);
  rte_ring_dequeue_zc_elem_finish(ring_, n);
  return n;
}

}  // namespace sluice
