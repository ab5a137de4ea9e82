#include "dataplane/dpdk/audit_ring.h"

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace sluice {
namespace {
// DPDK ring elements must be a multiple of 4 bytes.
constexpr unsigned kElementSize = (sizeof(AuditEvent) + 3) & ~3u;
// publish() and drain() copy whole elements straight from and to AuditEvents.
static_assert(kElementSize == sizeof(AuditEvent), "an AuditEvent is a whole ring element");
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
// calls, which a single-producer, single-consumer ring allows) with one memcpy each: the ring's
// element copy moves a ~1 KB event four bytes at a time, and a staging copy doubled that.
bool AuditRing::publish(const AuditEvent& event) {
  rte_ring_zc_data zc;
  if (rte_ring_enqueue_zc_bulk_elem_start(ring_, kElementSize, 1, &zc, nullptr) != 1) return false;
  std::memcpy(zc.ptr1, &event, sizeof(AuditEvent));
  rte_ring_enqueue_zc_elem_finish(ring_, 1);
  // The next event goes into the slot after this one (unless the ring wraps: then this is a
  // harmless miss). The ring is far larger than the cache, so that slot's lines must come from
  // memory before they can be written; asking for them now lets that happen while the worker
  // goes on, instead of when the next event is copied.
  const char* next = static_cast<const char*>(zc.ptr1) + kElementSize;
  for (unsigned off = 0; off < kElementSize; off += 64) __builtin_prefetch(next + off, 1);
  return true;
}

unsigned AuditRing::drain(AuditEvent* out, unsigned max) {
  rte_ring_zc_data zc;
  const unsigned n = rte_ring_dequeue_zc_burst_elem_start(ring_, kElementSize, max, &zc, nullptr);
  if (n == 0) return 0;
  std::memcpy(static_cast<void*>(out), zc.ptr1, size_t{zc.n1} * sizeof(AuditEvent));
  if (n > zc.n1)  // the burst wrapped around the end of the ring
    std::memcpy(static_cast<void*>(out + zc.n1), zc.ptr2, size_t{n - zc.n1} * sizeof(AuditEvent));
  rte_ring_dequeue_zc_elem_finish(ring_, n);
  return n;
}

}  // namespace sluice
