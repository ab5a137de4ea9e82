#include "dataplane/core/ip_reassembly.h"

#include <cstring>

#include "dataplane/core/ip_address.h"

namespace sluice {
namespace {

constexpr uint32_t kNone = UINT32_MAX;
// IPv4 total length is 16 bits, and so is the IPv6 payload length: no datagram is longer.
constexpr uint32_t kMaxIpDatagram = 65535;

struct Key {
  IpAddress src;
  IpAddress dst;
  uint32_t id = 0;
  uint8_t protocol = 0;
  uint8_t ip_version = 0;

  friend bool operator==(const Key&, const Key&) = default;
};

uint64_t hash_key(const Key& k) {
  // FNV-1a over the fields; good enough to spread a bounded table, and chains stay bounded by
  // the table size whatever an attacker picks.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  };
  mix(k.src.bytes.data(), 16);
  mix(k.dst.bytes.data(), 16);
  uint8_t tail[6] = {static_cast<uint8_t>(k.id >> 24), static_cast<uint8_t>(k.id >> 16),
                     static_cast<uint8_t>(k.id >> 8),  static_cast<uint8_t>(k.id),
                     k.protocol,                       k.ip_version};
  mix(tail, sizeof(tail));
  return h;
}

struct Range {
  uint32_t begin;
  uint32_t end;
};

}  // namespace

struct IpReassembler::Impl {
  // One datagram in progress. Its bytes and ranges live in the shared arrays below, at slots
  // fixed by the context's index, so nothing is allocated after construction.
  struct Context {
    Key key;
    bool in_use = false;
    bool have_last = false;   // the fragment without MF arrived: `total` is known
    uint32_t total = 0;       // datagram length, once known
    uint32_t received = 0;    // bytes stored (ranges never overlap, so this is coverage)
    uint32_t max_end = 0;     // highest byte end seen
    uint32_t fragments = 0;
    uint64_t first_ns = 0;
    uint32_t next_in_bucket = kNone;
    // Refused (overlap, a bad or excess fragment): its earlier fragments went on to the server,
    // so every later one is dropped until the timeout, or the server could complete a datagram
    // we never saw whole.
    bool poisoned = false;
  };

  IpReassemblyConfig config;
  std::vector<Context> contexts;
  std::vector<uint8_t> data;     // max_datagrams * max_datagram_bytes
  std::vector<Range> ranges;     // max_datagrams * max_fragments
  std::vector<uint32_t> buckets; // head context index per hash bucket
  std::vector<uint32_t> free_list;
  uint32_t used = 0;
  uint64_t bucket_mask = 0;

  explicit Impl(const IpReassemblyConfig& c) : config(c) {
    contexts.resize(config.max_datagrams);
    data.resize(static_cast<size_t>(config.max_datagrams) * config.max_datagram_bytes);
    ranges.resize(static_cast<size_t>(config.max_datagrams) * config.max_fragments);
    size_t n = 1;
    while (n < 2 * static_cast<size_t>(config.max_datagrams)) n <<= 1;
    buckets.assign(n, kNone);
    bucket_mask = n - 1;
    free_list.reserve(config.max_datagrams);
    for (uint32_t i = config.max_datagrams; i > 0; --i) free_list.push_back(i - 1);
  }

  uint8_t* bytes_of(uint32_t index) {
    return data.data() + static_cast<size_t>(index) * config.max_datagram_bytes;
  }
  Range* ranges_of(uint32_t index) {
    return ranges.data() + static_cast<size_t>(index) * config.max_fragments;
  }
  uint32_t& bucket_of(const Key& key) { return buckets[hash_key(key) & bucket_mask]; }

  uint32_t find(const Key& key) {
    for (uint32_t i = bucket_of(key); i != kNone; i = contexts[i].next_in_bucket) {
      if (contexts[i].key == key) return i;
    }
    return kNone;
  }

  uint32_t create(const Key& key, uint64_t now_ns) {
    if (free_list.empty()) return kNone;
    uint32_t index = free_list.back();
    free_list.pop_back();  // no allocation: capacity reserved in the constructor
    Context& c = contexts[index];
    c = Context{};
    c.key = key;
    c.in_use = true;
    c.first_ns = now_ns;
    uint32_t& head = bucket_of(key);
    c.next_in_bucket = head;
    head = index;
    ++used;
    return index;
  }

  void release(uint32_t index) {
    Context& c = contexts[index];
    uint32_t* link = &bucket_of(c.key);
    while (*link != index) link = &contexts[*link].next_in_bucket;
    *link = c.next_in_bucket;
    c.in_use = false;
    c.next_in_bucket = kNone;
    free_list.push_back(index);
    --used;
  }

  // Drops the datagram at `index` (if any): it is kept, poisoned, until its timeout; counts
  // `reason`.
  Result drop(uint32_t index, Malformed reason, WorkerStats& stats) {
    if (index != kNone) contexts[index].poisoned = true;
    stats.count_malformed(reason);
    return Result::kDropped;
  }

  bool expired(const Context& c, uint64_t now_ns) const {
    return now_ns >= c.first_ns && now_ns - c.first_ns > config.timeout_ns;
  }

  void expire(uint64_t now_ns, WorkerStats& stats) {
    // Called once per RX burst: nothing to scan in the usual case of no fragments in flight.
    for (uint32_t i = 0; used > 0 && i < contexts.size(); ++i) {
      if (contexts[i].in_use && expired(contexts[i], now_ns)) {
        release(i);
        stats.count_malformed(Malformed::kFragmentTimeout);
      }
    }
  }

  Result add(const ParsedPacket& p, uint64_t now_ns, WorkerStats& stats, ByteSpan& l4_bytes) {
    ++stats.ip_fragments;
    const IpFragmentInfo& f = p.fragment;
    Key key{p.src, p.dst, f.id, f.next_protocol, p.ip_version};
    uint32_t index = find(key);
    if (index != kNone && expired(contexts[index], now_ns)) {
      release(index);
      stats.count_malformed(Malformed::kFragmentTimeout);
      index = kNone;
    }

    if (index != kNone && contexts[index].poisoned) return drop(index, Malformed::kFragmentBad, stats);

    uint32_t len = static_cast<uint32_t>(p.l3_payload.size());
    uint32_t begin = f.offset;
    uint32_t end = begin + len;
    // Every fragment but the last carries a multiple of 8 bytes (offsets count 8-byte units);
    // an empty fragment carries nothing and can only be used to confuse.
    if (!f.is_fragment || len == 0 || (f.more_fragments && len % 8 != 0)) {
      return drop(index, Malformed::kFragmentBad, stats);
    }
    if (end > kMaxIpDatagram) return drop(index, Malformed::kFragmentBad, stats);
    if (end > config.max_datagram_bytes) return drop(index, Malformed::kFragmentTooLarge, stats);

    if (index == kNone) {
      index = create(key, now_ns);
      if (index == kNone) {
        // Full of live datagrams: reclaim the stale ones (counted as timeouts), never a live one.
        expire(now_ns, stats);
        index = create(key, now_ns);
      }
      if (index == kNone) {
        stats.count_malformed(Malformed::kFragmentTableFull);
        return Result::kDropped;
      }
    }
    Context& c = contexts[index];
    uint8_t* bytes = bytes_of(index);
    Range* seen = ranges_of(index);

    if (!f.more_fragments) {
      // The last fragment fixes the length; it must agree with everything seen so far.
      if ((c.have_last && c.total != end) || end < c.max_end) {
        return drop(index, Malformed::kFragmentBad, stats);
      }
    } else if (c.have_last && end > c.total) {
      return drop(index, Malformed::kFragmentBad, stats);
    }

    for (uint32_t i = 0; i < c.fragments; ++i) {
      if (begin >= seen[i].end || seen[i].begin >= end) continue;
      // A retransmitted copy of the same fragment is harmless; anything else that overlaps
      // could make two receivers see two different datagrams, so the whole datagram goes.
      bool duplicate = seen[i].begin == begin && seen[i].end == end &&
                       std::memcmp(bytes + begin, p.l3_payload.data(), len) == 0;
      if (duplicate) return Result::kIncomplete;
      return drop(index, Malformed::kFragmentOverlap, stats);
    }
    if (c.fragments == config.max_fragments) {
      // Too many pieces is the same attack on memory and time as too many bytes.
      return drop(index, Malformed::kFragmentTooLarge, stats);
    }

    std::memcpy(bytes + begin, p.l3_payload.data(), len);
    seen[c.fragments++] = {begin, end};
    c.received += len;
    if (end > c.max_end) c.max_end = end;
    if (!f.more_fragments) {
      c.have_last = true;
      c.total = end;
    }
    if (!c.have_last || c.received != c.total) return Result::kIncomplete;

    // Complete. The bytes stay in this slot until the next add() or expire() reuses it.
    l4_bytes = ByteSpan(bytes, c.total);
    release(index);
    ++stats.ip_reassembled;
    return Result::kComplete;
  }
};

IpReassembler::IpReassembler(const IpReassemblyConfig& config)
    : impl_(std::make_unique<Impl>(config)) {}

IpReassembler::~IpReassembler() = default;

IpReassembler::Result IpReassembler::add(const ParsedPacket& fragment, uint64_t now_ns,
                                         WorkerStats& stats, ByteSpan& l4_bytes) {
  return impl_->add(fragment, now_ns, stats, l4_bytes);
}

void IpReassembler::expire(uint64_t now_ns, WorkerStats& stats) { impl_->expire(now_ns, stats); }

uint32_t IpReassembler::in_progress() const { return impl_->used; }

}  // namespace sluice
