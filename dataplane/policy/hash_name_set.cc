#include "dataplane/policy/hash_name_set.h"

#include <bit>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sluice {
namespace {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;
constexpr size_t kMaxName = 255;
constexpr size_t kMaxSuffixes = kMaxName / 2 + 1;  // labels are at least one byte plus a dot

inline uint64_t step(uint64_t h, char c) {
  return (h ^ static_cast<unsigned char>(c)) * kFnvPrime;
}

// FNV's low bits are weak; the murmur3 finaliser spreads them before we take index and tag.
inline uint64_t finish(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

uint64_t hash_name(std::string_view name) {
  uint64_t h = kFnvOffset;
  for (size_t i = name.size(); i-- > 0;) h = step(h, name[i]);
  return finish(h);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HashNameSet>> HashNameSet::build(
    const std::vector<NameEntry>& entries) {
  std::unique_ptr<HashNameSet> set(new HashNameSet());
  // Load at most 0.7: linear probing stays short, and misses (most lookups) end on an empty slot.
  uint64_t want = std::max<uint64_t>(16, entries.size() * 10 / 7 + 1);
  uint64_t capacity = std::bit_ceil(want);
  set->slots_ = HugeArray<Slot>(capacity);
  set->mask_ = capacity - 1;
  set->building_.reserve(1 + entries.size() * 24);
  set->building_.push_back(0);  // offset 0 marks an empty slot
  for (const NameEntry& entry : entries) {
    if (entry.name.empty() || entry.name.size() > kMaxName)
      return absl::InvalidArgumentError(absl::StrCat("'", entry.name, "' is not a host name"));
    if (!set->insert(hash_name(entry.name), entry)) {
      return absl::ResourceExhaustedError(
          "name list too large: its names exceed 4 GiB; split it into several lists");
    }
  }
  set->arena_ = HugeArray<char>(set->building_.size());
  std::memcpy(set->arena_.data(), set->building_.data(), set->building_.size());
  std::vector<char>().swap(set->building_);
  return set;
}

bool HashNameSet::insert(uint64_t hash, const NameEntry& entry) {
  const uint32_t tag = static_cast<uint32_t>(hash >> 32);
  for (uint64_t i = hash & mask_;; i = (i + 1) & mask_) {
    Slot& slot = slots_[i];
    if (slot.offset == 0) {
      if (building_.size() + 2 + entry.name.size() > UINT32_MAX) return false;
      slot.offset = static_cast<uint32_t>(building_.size());
      slot.tag = tag;
      building_.push_back(static_cast<char>(entry.scope));
      building_.push_back(static_cast<char>(entry.name.size()));
      building_.insert(building_.end(), entry.name.begin(), entry.name.end());
      ++count_;
      return true;
    }
    if (slot.tag != tag) continue;
    char* stored = &building_[slot.offset];
    if (static_cast<uint8_t>(stored[1]) == entry.name.size() &&
        std::memcmp(stored + 2, entry.name.data(), entry.name.size()) == 0) {
      stored[0] = static_cast<char>(static_cast<uint8_t>(stored[0]) | entry.scope);
      return true;
    }
  }
}

uint8_t HashNameSet::probe(uint64_t hash, std::string_view name) const {
  const uint32_t tag = static_cast<uint32_t>(hash >> 32);
  for (uint64_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.offset == 0) return 0;
    if (slot.tag != tag) continue;
    const char* stored = &arena_[slot.offset];
    if (static_cast<uint8_t>(stored[1]) == name.size() &&
        std::memcmp(stored + 2, name.data(), name.size()) == 0) {
      return static_cast<uint8_t>(stored[0]);
    }
  }
}

bool HashNameSet::matches(std::string_view name, PolicyScratch&) const {
  if (name.empty() || name.size() > kMaxName) return false;
  uint64_t hashes[kMaxSuffixes];
  uint8_t starts[kMaxSuffixes];
  size_t n = 0;
  uint64_t h = kFnvOffset;
  for (size_t i = name.size(); i-- > 0;) {
    h = step(h, name[i]);
    if (i == 0 || name[i - 1] == '.') {
      if (n == kMaxSuffixes) return false;  // only a malformed name gets here ("....")
      uint64_t f = finish(h);
      // Issue every slot load before the first compare: the table is far larger than the cache
      // at scale, and the probes of one name then cost about one memory latency, not one each.
      __builtin_prefetch(&slots_[f & mask_]);
      hashes[n] = f;
      starts[n] = static_cast<uint8_t>(i);
      ++n;
    }
  }
  for (size_t k = n; k-- > 0;) {
    const uint8_t want = starts[k] == 0 ? kScopeExact : kScopeSubdomains;
    if (probe(hashes[k], name.substr(starts[k])) & want) return true;
  }
  return false;
}

uint8_t HashNameSet::scope_of(std::string_view name) const {
  if (name.empty() || name.size() > kMaxName) return 0;
  return probe(hash_name(name), name);
}

size_t HashNameSet::memory_bytes() const {
  return arena_.memory_bytes() + slots_.memory_bytes() + sizeof(*this);
}

}  // namespace sluice
