#include "dataplane/policy/hash_name_set.h"

#include <algorithm>
#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sluice {
namespace {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;
constexpr size_t kMaxName = 255;
constexpr size_t kMaxSuffixes = kMaxName / 2 + 1;  // labels are at least one byte plus a dot
constexpr uint8_t kOverflowed = 1;
constexpr size_t kSpilledEntry = 6;  // [scope][0][arena offset: 4]
constexpr size_t kEntryBytes = HashNameSet::kBucketBytes - 26;  // a bucket's entry area
// Names per bucket on average, as a fraction: 3 of 8 slots and ~66 of 102 entry bytes for
// 20-byte names. Few buckets then overflow (a miss reads one bucket) or spill (a hit reads the
// arena), and the table stays well below the 64 bytes per name budget.
constexpr size_t kLoadNum = 3, kLoadDen = 1;

inline uint64_t step(uint64_t h, char c) {
  return (h ^ static_cast<unsigned char>(c)) * kFnvPrime;
}

// FNV's low bits are weak; the murmur3 finaliser spreads them before we take bucket and tag.
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

// The bucket comes from the high bits (multiply-shift), the fingerprint from the low; bit 0 set
// so that no fingerprint is 0 (an empty slot).
inline uint16_t tag_of(uint64_t hash) { return static_cast<uint16_t>(hash | 1u); }

// Bit i set: slot i holds fingerprint `tag`.
inline unsigned tag_matches(const uint16_t* tags, uint16_t tag) {
#if defined(__SSE2__)
  const __m128i eq = _mm_cmpeq_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(tags)),
                                     _mm_set1_epi16(static_cast<short>(tag)));
  return static_cast<unsigned>(_mm_movemask_epi8(_mm_packs_epi16(eq, _mm_setzero_si128())));
#else
  unsigned m = 0;
  for (size_t i = 0; i < HashNameSet::kSlotsPerBucket; ++i) m |= unsigned{tags[i] == tag} << i;
  return m;
#endif
}

// Whether `entry` (in a bucket) holds exactly `name`.
inline bool entry_is(const uint8_t* entry, std::string_view name, const char* arena) {
  const uint8_t length = entry[1];
  if (length != 0)
    return length == name.size() && std::memcmp(entry + 2, name.data(), name.size()) == 0;
  uint32_t offset;
  std::memcpy(&offset, entry + 2, sizeof offset);
  const char* stored = arena + offset;
  return static_cast<uint8_t>(stored[0]) == name.size() &&
         std::memcmp(stored + 1, name.data(), name.size()) == 0;
}

// Buckets for `names` names of `bytes` entry bytes in all: 3 names a bucket, or fewer when the
// names are long, so that the entry areas stay about 3/4 full (an area that fills passes names on
// and its misses read two buckets), but never more than 56 bytes of table per name. A table of
// huge pages uses its last page whole.
size_t bucket_count_for(size_t names, size_t bytes) {
  constexpr size_t kPerPage = kHugePageBytes / HashNameSet::kBucketBytes;
  size_t want = std::max(names * kLoadDen / kLoadNum, bytes * 4 / (kEntryBytes * 3));
  want = std::min(want, names * 56 / HashNameSet::kBucketBytes) + 1;
  if (want * HashNameSet::kBucketBytes < kHugeArrayMinBytes) return want;
  return (want + kPerPage - 1) / kPerPage * kPerPage;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HashNameSet>> HashNameSet::build(
    const std::vector<NameEntry>& entries) {
  size_t bytes = 0;
  for (const NameEntry& entry : entries) {
    if (entry.name.empty() || entry.name.size() > kMaxName)
      return absl::InvalidArgumentError(absl::StrCat("'", entry.name, "' is not a host name"));
    bytes += 2 + entry.name.size() <= kEntryBytes ? 2 + entry.name.size() : kSpilledEntry;
  }
  std::unique_ptr<HashNameSet> set(new HashNameSet());
  set->buckets_ = HugeArray<Bucket>(bucket_count_for(entries.size(), bytes));
  for (const NameEntry& entry : entries) {
    if (!set->insert(hash_name(entry.name), entry)) {
      return absl::ResourceExhaustedError(
          "name list too large: its spilled names exceed 4 GiB; split it into several lists");
    }
  }
  set->arena_ = HugeArray<char>(set->building_.size());
  if (!set->building_.empty())
    std::memcpy(set->arena_.data(), set->building_.data(), set->building_.size());
  std::vector<char>().swap(set->building_);
  return set;
}

const uint8_t* HashNameSet::find(uint64_t hash, std::string_view name, const char* arena) const {
  const uint16_t tag = tag_of(hash);
  const size_t count = buckets_.size();
  size_t i = home(hash);
  for (size_t visited = 0; visited < count; ++visited) {
    const Bucket& b = buckets_[i];
    for (unsigned m = tag_matches(b.tag, tag); m != 0; m &= m - 1) {
      const uint8_t* entry = b.entries + b.pos[std::countr_zero(m)];
      if (entry_is(entry, name, arena)) return entry;
    }
    if (!(b.flags & kOverflowed)) return nullptr;
    if (++i == count) i = 0;
  }
  return nullptr;
}

bool HashNameSet::insert(uint64_t hash, const NameEntry& entry) {
  if (const uint8_t* found = find(hash, entry.name, building_.data())) {
    const_cast<uint8_t*>(found)[0] |= entry.scope;
    return true;
  }
  const size_t length = entry.name.size();
  const size_t count = buckets_.size();
  size_t i = home(hash);
  for (size_t visited = 0; visited < count; ++visited) {
    Bucket& b = buckets_[i];
    const size_t slot = static_cast<size_t>(std::countr_zero(tag_matches(b.tag, 0) | 0x100u));
    const size_t room = sizeof(b.entries) - b.used;
    // A name goes into the bucket if it fits, else into the arena behind a short entry; a bucket
    // without a free slot or the room for that entry passes it on.
    const size_t need = 2 + length <= room ? 2 + length : kSpilledEntry;
    if (slot < kSlotsPerBucket && need <= room) {
      uint8_t* e = b.entries + b.used;
      e[0] = entry.scope;
      if (need == 2 + length) {
        e[1] = static_cast<uint8_t>(length);
        std::memcpy(e + 2, entry.name.data(), length);
      } else {
        if (building_.size() + 1 + length > UINT32_MAX) return false;
        const uint32_t offset = static_cast<uint32_t>(building_.size());
        e[1] = 0;
        std::memcpy(e + 2, &offset, sizeof offset);
        building_.push_back(static_cast<char>(length));
        building_.insert(building_.end(), entry.name.begin(), entry.name.end());
      }
      b.tag[slot] = tag_of(hash);
      b.pos[slot] = b.used;
      b.used = static_cast<uint8_t>(b.used + need);
      ++count_;
      return true;
    }
    b.flags |= kOverflowed;
    if (++i == count) i = 0;
  }
  return false;  // unreachable: the table has far more room than the names need
}

template <typename Visit>
bool HashNameSet::probe_suffixes(std::string_view name, Visit&& visit) const {
  size_t n = 0;
  uint64_t h = kFnvOffset;
  for (size_t i = name.size(); i-- > 0;) {
    h = step(h, name[i]);
    if (i == 0 || name[i - 1] == '.') {
      if (n++ == kMaxSuffixes) return false;  // only a malformed name gets here ("....")
      const uint64_t f = finish(h);
      // Issue every load of the lookup before the first compare: the table is far larger than
      // the cache at scale, and the probes of one name then cost about one memory latency, not
      // one each. Both lines: a hit's name is usually in the second.
      const Bucket* b = &buckets_[home(f)];
      __builtin_prefetch(b);
      __builtin_prefetch(reinterpret_cast<const char*>(b) + 64);
      visit(f, b, static_cast<uint8_t>(i));
    }
  }
  return true;
}

bool HashNameSet::matches(std::string_view name, PolicyScratch&) const {
  if (name.empty() || name.size() > kMaxName) return false;
  uint64_t hashes[kMaxSuffixes];
  const Bucket* homes[kMaxSuffixes];
  uint8_t starts[kMaxSuffixes];
  size_t n = 0;
  const bool walked = probe_suffixes(name, [&](uint64_t hash, const Bucket* home, uint8_t start) {
    hashes[n] = hash;
    homes[n] = home;
    starts[n] = start;
    ++n;
  });
  if (!walked) return false;
  // The common case, a miss: no fingerprint matches and no bucket overflowed. Branch-free across
  // the suffixes, so the one branch below does not wait on each load in turn.
  unsigned any = 0;
  for (size_t k = 0; k < n; ++k)
    any |= tag_matches(homes[k]->tag, tag_of(hashes[k])) | (homes[k]->flags & kOverflowed);
  if (any == 0) return false;
  for (size_t k = n; k-- > 0;) {
    const uint8_t want = starts[k] == 0 ? kScopeExact : kScopeSubdomains;
    const uint8_t* entry = find(hashes[k], name.substr(starts[k]), arena_.data());
    if (entry != nullptr && (entry[0] & want)) return true;
  }
  return false;
}

// The same loads as matches(), asked for and not waited on.
void HashNameSet::prefetch(std::string_view name) const {
  if (name.empty() || name.size() > kMaxName) return;
  probe_suffixes(name, [](uint64_t, const Bucket*, uint8_t) {});
}

uint8_t HashNameSet::scope_of(std::string_view name) const {
  if (name.empty() || name.size() > kMaxName) return 0;
  const uint8_t* entry = find(hash_name(name), name, arena_.data());
  return entry == nullptr ? 0 : entry[0];
}

size_t HashNameSet::overflowed_buckets() const {
  size_t n = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) n += (buckets_[i].flags & kOverflowed) != 0;
  return n;
}

size_t HashNameSet::memory_bytes() const {
  return arena_.memory_bytes() + buckets_.memory_bytes() + sizeof(*this);
}

}  // namespace sluice
