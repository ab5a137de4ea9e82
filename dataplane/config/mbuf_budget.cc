#include "dataplane/config/mbuf_budget.h"

#include <bit>

#include "absl/strings/str_cat.h"
#include "dataplane/config/run_config.h"

namespace sluice {

MbufBudget mbuf_budget(const RunConfig& c, uint32_t ports_per_pool) {
  MbufBudget b;
  const uint64_t workers = std::max<size_t>(c.lcores.workers.size(), 1);
  const uint64_t ports = ports_per_pool ? ports_per_pool : c.ports.size();
  const uint64_t queues = workers;  // every worker has one RX and one TX queue on every port
  const auto term = [&](std::string what, uint64_t n) {
    b.terms.push_back({std::move(what), n});
    b.fixed += n;
  };
  // Every descriptor of every queue can hold an mbuf.
  term(absl::StrCat("RX rings: ", ports, " ports x ", queues, " queues x ",
                    c.queues.rx_descriptors, " descriptors"),
       ports * queues * c.queues.rx_descriptors);
  term(absl::StrCat("TX rings: ", ports, " ports x ", queues, " queues x ",
                    c.queues.tx_descriptors, " descriptors"),
       ports * queues * c.queues.tx_descriptors);
  // A per-lcore mempool cache holds up to 1.5 times its size before it flushes.
  term(absl::StrCat("lcore caches: ", workers + 1, " lcores x ", c.mempool.cache,
                    " x 1.5 (flush threshold)"),
       (workers + 1) * (c.mempool.cache + c.mempool.cache / 2));
  term(absl::StrCat("bursts in hand: ", workers, " workers x ", ports, " ports x ",
                    c.queues.burst),
       workers * ports * c.queues.burst);
  b.queues_fill = b.fixed;
  bool software_dispatch = false;
  for (const PortConfig& p : c.ports) software_dispatch |= p.kind == PortKind::kVdev;
  if (software_dispatch && workers > 1)
    term(absl::StrCat("dispatch rings (ports without RSS), when full: ", workers, " x ",
                      workers - 1, " rings x ", kDispatchRingSize),
         workers * (workers - 1) * kDispatchRingSize);
  const uint64_t min_held = uint64_t{held_frames_per_worker(0, 1)} * workers;
  b.held = uint64_t{held_frames_per_worker(c.mempool.mbufs, static_cast<uint32_t>(workers))} *
           workers;
  // The smallest pool m that still holds `fixed` once the workers hold all the first-flight
  // frames they may (held_frames_per_worker(m) each): about max(fixed + 256 w, 4/3 fixed).
  const auto held_at = [&](uint64_t m) {
    const uint64_t per = held_frames_per_worker(
        static_cast<uint32_t>(std::min<uint64_t>(m, UINT32_MAX)), static_cast<uint32_t>(workers));
    return per * workers;
  };
  uint64_t m = std::max<uint64_t>(b.fixed + min_held, b.fixed * 4 / 3);
  m = m > 8 * workers ? m - 8 * workers : 0;  // a little under the estimate, then up to it
  while (m < held_at(m) || m - held_at(m) < b.fixed) ++m;
  b.needed = m;
  b.recommended = std::bit_ceil(b.needed + 1) - 1;
  return b;
}

}  // namespace sluice
