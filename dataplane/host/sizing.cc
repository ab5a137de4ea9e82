#include "dataplane/host/sizing.h"

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <bit>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "dataplane/core/audit_event.h"
#include "dataplane/core/first_flight_pool.h"
#include "dataplane/core/flow.h"

namespace sluice {
Sizing compute_sizing(const RunConfig& c, const SizingInputs& in) {
  Sizing s;
  const uint64_t workers = c.lcores.workers.size();
  const uint64_t ports = in.ports_per_pool ? in.ports_per_pool : c.ports.size();
  const uint64_t queues = workers;  // every worker has one RX and one TX queue on every port
  s.mbufs = mbuf_budget(c, in.ports_per_pool);
  s.mbufs_configured = c.mempool.mbufs;

  // Hugepage memory of one socket: its packet pool, the descriptor rings of its ports, and the
  // rings every socket may carry (audit, dispatch: counted on each, as DPDK places them on the
  // socket of the lcore that creates them).
  rte_mempool_objsz objsz{};
  rte_mempool_calc_obj_size(static_cast<uint32_t>(sizeof(rte_mbuf)) + c.mempool.data_room, 0,
                            &objsz);
  s.mbuf_object_bytes = objsz.total_size;
  const uint64_t pool_mbufs = std::max<uint64_t>(c.mempool.mbufs, s.mbufs.needed);
  const auto huge = [&](std::string what, uint64_t bytes) {
    s.huge_terms.push_back({std::move(what), bytes});
    s.huge_bytes_per_socket += bytes;
  };
  huge(absl::StrCat("packet pool: ", pool_mbufs, " mbufs x ", s.mbuf_object_bytes, " bytes"),
       pool_mbufs * s.mbuf_object_bytes);
  huge(absl::StrCat("descriptor rings: ", ports * queues * 2, " queues x ~",
                    kDescriptorBytes, " bytes per descriptor"),
       ports * queues * (c.queues.rx_descriptors + c.queues.tx_descriptors) * kDescriptorBytes);
  huge(absl::StrCat("audit rings: ", workers, " x ", std::bit_ceil(c.audit.ring_size), " x ",
                    kAuditSlotBytes, " bytes (an AuditEvent in whole cache lines)"),
       workers * std::bit_ceil(c.audit.ring_size) * kAuditSlotBytes);
  if (workers > 1)
    huge(absl::StrCat("dispatch rings: ", workers * (workers - 1), " x ", kDispatchRingSize,
                      " pointers"),
         workers * (workers - 1) * kDispatchRingSize * sizeof(void*));
  huge("EAL, telemetry, RCU and memzones (allowance)", kEalOverheadBytes);
  s.huge_bytes_pools = s.huge_bytes_per_socket;
  s.huge_bytes_total = s.huge_bytes_per_socket * std::max<uint32_t>(1, in.pools);
  // DPDK reserves --socket-mem (MiB per socket) at start, whatever it then uses.
  for (size_t i = 0; i < c.eal.extra_args.size(); ++i) {
    absl::string_view arg = c.eal.extra_args[i];
    std::string value;
    if (absl::ConsumePrefix(&arg, "--socket-mem=")) {
      value = std::string(arg);
    } else if (arg == "--socket-mem" && i + 1 < c.eal.extra_args.size()) {
      value = c.eal.extra_args[i + 1];
    } else {
      continue;
    }
    uint64_t sum = 0;
    for (absl::string_view mb : absl::StrSplit(value, ',')) {
      uint64_t n = 0;
      if (!absl::SimpleAtoi(mb, &n)) n = 0;
      s.socket_mem_bytes.push_back(n << 20);
      sum += n << 20;
      s.huge_bytes_per_socket = std::max(s.huge_bytes_per_socket, n << 20);
    }
    s.huge_terms.push_back({absl::StrCat("eal --socket-mem=", value, " reserved at start"), sum});
    s.huge_bytes_total = std::max(s.huge_bytes_total, sum);
  }
  s.huge_bytes_total = std::max(s.huge_bytes_total, uint64_t{c.eal.memory_mb} << 20);

  // Ordinary memory, per worker then in all.
  const auto ram = [&](std::string what, uint64_t bytes, std::string key) {
    s.ram_terms.push_back({std::move(what), bytes, std::move(key)});
    s.ram_bytes += bytes;
  };
  const InspectorConfig& ic = c.inspector;
  const uint64_t buckets = std::bit_ceil(uint64_t{std::max<uint32_t>(1, ic.flow_capacity)} * 2);
  ram(absl::StrCat("flow tables: ", workers, " workers x (", ic.flow_capacity, " flows x ",
                   sizeof(Flow), " bytes (sizeof Flow) + ", buckets, " buckets x 4)"),
      workers * (uint64_t{ic.flow_capacity} * sizeof(Flow) + buckets * 4), "flows.capacity");
  const uint64_t ff_slot = ic.first_flight_byte_cap + (ic.first_flight_byte_cap + 63) / 64 * 8 +
                           sizeof(FirstFlightPool::Slot) + sizeof(uint32_t);
  ram(absl::StrCat("first-flight buffers: ", workers, " workers x ", ic.first_flight_buffers,
                   " x ", ff_slot, " bytes (byte cap, coverage bitmap, slot)"),
      workers * ic.first_flight_buffers * ff_slot, "first_flight.buffers");
  ram(absl::StrCat("IP reassembly: ", workers, " workers x ", ic.ip_reassembly.max_datagrams,
                   " datagrams x ", ic.ip_reassembly.max_datagram_bytes, " bytes"),
      workers * ic.ip_reassembly.max_datagrams * ic.ip_reassembly.max_datagram_bytes,
      "ip_reassembly.max_datagrams");
  const uint64_t policy = in.policy_names * kPolicyBytesPerName +
                          in.policy_patterns * kPolicyBytesPerPattern +
                          in.policy_cidrs * kPolicyBytesPerCidr;
  ram(absl::StrCat("policy, twice while a reload builds: 2 x (", in.policy_names, " names x ",
                   kPolicyBytesPerName, " + ", in.policy_patterns, " patterns x ",
                   kPolicyBytesPerPattern, " + ", in.policy_cidrs, " addresses x ",
                   kPolicyBytesPerCidr, ")"),
      2 * policy, "");  // no key: the lists themselves
  // The management lcore's own buffers: what each syslog sink holds while its collector is slow
  // or down, and one list upload through the API, held whole while it is checked.
  for (const SyslogExportOptions& sink : c.audit.syslog)
    ram(absl::StrCat("syslog sink ", sink.address.text, ": up to ", kSyslogBufferFactor,
                     " x buffer_size (", sink.buffer_bytes, " bytes): compacted once half is dead"),
        kSyslogBufferFactor * sink.buffer_bytes, "audit.sinks[].buffer_size");
  if (c.api.enabled)
    ram(absl::StrCat("API list upload: api.max_list_body (", c.api.max_list_body,
                     " bytes), the body held whole while it is checked"),
        c.api.max_list_body, "api.max_list_body");
  return s;
}

const SizingTerm* Sizing::largest_ram_term() const {
  const SizingTerm* largest = nullptr;
  for (const SizingTerm& t : ram_terms)
    if (!largest || t.amount > largest->amount) largest = &t;
  return largest;
}

absl::StatusOr<uint64_t> count_list_entries(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot be read"));
  uint64_t n = 0;
  std::string line;
  while (std::getline(in, line)) {
    const absl::string_view t = absl::StripAsciiWhitespace(line);
    if (!t.empty() && t.front() != '#') ++n;
  }
  return n;
}

absl::Status count_policy_inputs(const RunConfig& config, SizingInputs& inputs) {
  // Every list is counted that can be; every one that cannot is named.
  std::vector<std::string> unreadable;
  for (const PolicyRuleConfig& rule : config.policy.rules) {
    for (const std::string& file : rule.files) {
      absl::StatusOr<uint64_t> n = count_list_entries(file);
      if (!n.ok()) {
        unreadable.push_back(file);
        continue;
      }
      switch (rule.kind) {
        case RuleKind::kDomains:
        case RuleKind::kHosts: inputs.policy_names += *n; break;
        case RuleKind::kPatterns: inputs.policy_patterns += *n; break;
        case RuleKind::kCidrs: inputs.policy_cidrs += *n; break;
      }
    }
  }
  if (unreadable.empty()) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat("policy lists that cannot be read: ",
                                          absl::StrJoin(unreadable, ", ")));
}

uint64_t required_flow_capacity(uint64_t expected, uint64_t workers) {
  const uint64_t share = (expected + workers - 1) / workers;
  const uint64_t with_headroom = share + (share * kFlowHeadroomPercent + 99) / 100;
  return std::max<uint64_t>(1024, (with_headroom + 1023) / 1024 * 1024);
}

}  // namespace sluice
