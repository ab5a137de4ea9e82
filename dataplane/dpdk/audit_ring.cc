#include "dataplane/dpdk/audit_ring.h"

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "absl/strings/str_cat.h"

namespace sluice {
namespace {
// DPDK ring elements must be a multiple of 4 bytes.
constexpr unsigned kElementSize = (sizeof(AuditEvent) + 3) & ~3u;
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

bool AuditRing::publish(const AuditEvent& event) {
  alignas(8) unsigned char element[kElementSize];
  std::memcpy(element, &event, sizeof(AuditEvent));
  return rte_ring_sp_enqueue_elem(ring_, element, kElementSize) == 0;
}

unsigned AuditRing::drain(AuditEvent* out, unsigned max) {
  unsigned n = 0;
  alignas(8) unsigned char element[kElementSize];
  while (n < max && rte_ring_sc_dequeue_elem(ring_, element, kElementSize) == 0) {
    std::memcpy(&out[n], element, sizeof(AuditEvent));
    ++n;
  }
  return n;
}

}  // namespace sluice
