// Bulk name matching: the label-suffix walk over a hash table (HashNameSet) against Hyperscan
// literal mode (LiteralNameSet), on the same synthetic lists in the same run, at 1k, 100k, 1M
// and 5M names. Reported per matcher and size: build seconds, bytes per name, and ns per lookup
// for hits and misses (median of the repetitions; each repetition is the mean over a shuffled
// batch of 64k names, so the caches see a realistic spread).
//
//   build/perf/policy_bench --benchmark_counters_tabular=true
//   SLUICE_POLICY_BENCH_MAX=1000000       limits the sizes
//   SLUICE_POLICY_BENCH_LITERAL_MAX=10000  largest list given to Hyperscan literal mode (default
//                                          10k: its compiler needs minutes and gigabytes beyond)
//
// Synthetic names: 2-4 labels of 3-12 letters/digits under a handful of TLDs, ~20 bytes on
// average, entries 40% exact, 50% `.name`, 10% `*.name`. Hits look up the entry itself or a name
// under it; misses are fresh names of the same shape plus names one label above an entry.
// Results (2-core shared VM, RelWithDebInfo; lookup = median of 5 repetitions, each the mean over
// 64k shuffled names; hs_literal above 10k was not measurable: at 100k its compiler ran more than
// 4 minutes and grew past 10 GB before it was stopped). Other builds share the machine, and one
// DRAM round trip here is itself 150-300 ns, so a run varies by up to 2x: compare matchers only
// within one run, and run more than once.
//
//   names  matcher     build s  bytes/name  hit ns  miss ns
//   1k     hash_walk   0.0001      43.6       55-104  54-63
//   1k     hs_literal  0.68       258        134     107
//   10k    hs_literal  55.8       213        817     581
//   100k   hash_walk   0.022       43.5       83-196  73-165
//   100k   hs_literal  > 240 s, > 10 GB (stopped)
//   1M     hash_walk   0.11-0.27   44.8      194-295 144-208
//   5M     hash_walk   0.9-2.0     43.6      215-421 167-371
//
// 2026-11-29, three runs on a quiet machine (load average 0.8), pinned with taskset -c 1:
//   5M     hash_walk   0.89-1.27   43.6      215-231 174-196
//
// The 5M rows of the old table layout (8-byte slots, names behind an offset: a hit cost two
// dependent loads and linear probing often crossed into the next line), run alternately with the
// new one on the same machine: 316-478 ns hit, 272-363 ns miss, 32.7 bytes/name. Quiet runs of
// the two alone (a harness building one layout at a time) gave 201-210 / 160 ns for the new and
// 285-434 / 281 ns for the old at 5M. The new layout (hash_name_set.h): a hit and a miss are one
// round of parallel loads, and a miss ends on one branch after comparing every suffix's 8
// fingerprints, so the processor runs on into the next lookup.

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dataplane/policy/hash_name_set.h"
#include "dataplane/policy/literal_name_set.h"

namespace sluice {
namespace {

constexpr size_t kQueries = 1 << 16;
const char* const kTlds[] = {"com", "net", "org", "co.uk", "io", "de", "edu", "cloudfront.net"};

std::string random_label(std::mt19937_64& rng) {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string label(3 + rng() % 10, 'a');
  for (char& c : label) c = kChars[rng() % 36];
  label[0] = kChars[rng() % 26];
  return label;
}

std::string random_name(std::mt19937_64& rng) {
  std::string name = random_label(rng);
  for (size_t extra = rng() % 2; extra > 0; --extra) name += "." + random_label(rng);
  return name + "." + kTlds[rng() % std::size(kTlds)];
}

struct Data {
  std::vector<NameEntry> entries;
  std::vector<std::string> hits, misses;
  // The queries again, packed into one buffer: a worker's SNI sits in the flow it just parsed,
  // not in a heap string of its own, so the benchmark should not pay a miss to read the name.
  std::string packed;
  std::vector<std::string_view> hit_views, miss_views;
};

void pack(Data& d) {
  for (const auto* v : {&d.hits, &d.misses})
    for (const std::string& q : *v) d.packed += q;
  size_t at = 0;
  for (const std::string& q : d.hits) {
    d.hit_views.emplace_back(d.packed.data() + at, q.size());
    at += q.size();
  }
  for (const std::string& q : d.misses) {
    d.miss_views.emplace_back(d.packed.data() + at, q.size());
    at += q.size();
  }
}

Data make_data(size_t n) {
  Data d;
  std::mt19937_64 rng(n);
  d.entries.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t r = rng() % 10;
    d.entries.push_back({random_name(rng), static_cast<uint8_t>(r < 4   ? kScopeExact
                                                                : r < 9 ? kScopeTree
                                                                        : kScopeSubdomains)});
  }
  std::mt19937_64 qrng(n + 1);
  for (size_t i = 0; i < kQueries; ++i) {
    const NameEntry& e = d.entries[qrng() % n];
    d.hits.push_back(e.scope == kScopeExact ? e.name : "www." + e.name);
    // A miss: a fresh name (almost surely absent), or the parent of an exact-only entry.
    d.misses.push_back(i % 2 ? random_name(qrng) + ".example" : "zz" + e.name);
  }
  pack(d);
  return d;
}

struct Built {
  std::unique_ptr<NameSet> set;
  double build_s = 0;
};

// One size at a time: the previous size's data and sets are dropped when a new size starts.
size_t g_size = 0;
std::unique_ptr<Data> g_data;
std::map<int, Built> g_built;

Data& data_for(size_t n) {
  if (g_size != n) {
    g_built.clear();
    g_data = std::make_unique<Data>(make_data(n));
    g_size = n;
  }
  return *g_data;
}

enum Kind { kHash = 0, kLiteral = 1 };

Built& built_for(int kind, size_t n) {
  Data& d = data_for(n);
  auto it = g_built.find(kind);
  if (it != g_built.end()) return it->second;
  Built b;
  auto start = std::chrono::steady_clock::now();
  if (kind == kHash) {
    b.set = *HashNameSet::build(d.entries);
  } else {
    auto set = LiteralNameSet::build(d.entries);
    if (!set.ok()) std::abort();
    b.set = *std::move(set);
  }
  b.build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return g_built.emplace(kind, std::move(b)).first->second;
}

void BM_Build(benchmark::State& state, int kind) {
  size_t n = static_cast<size_t>(state.range(0));
  data_for(n);
  g_built.erase(kind);
  for (auto _ : state) {
    Built& b = built_for(kind, n);
    benchmark::DoNotOptimize(b.set.get());
  }
  Built& b = built_for(kind, n);
  state.counters["build_s"] = b.build_s;
  state.counters["bytes_per_name"] =
      static_cast<double>(b.set->memory_bytes()) / static_cast<double>(n);
  state.counters["names"] = static_cast<double>(b.set->size());
}

void BM_Lookup(benchmark::State& state, int kind, bool hits) {
  size_t n = static_cast<size_t>(state.range(0));
  Built& b = built_for(kind, n);
  const std::vector<std::string_view>& queries = hits ? g_data->hit_views : g_data->miss_views;
  PolicyScratch scratch;
  if (!b.set->prepare_scratch(scratch)) std::abort();
  size_t i = 0, matched = 0;
  for (auto _ : state) {
    matched += b.set->matches(queries[i], scratch);
    i = (i + 1) & (kQueries - 1);
  }
  // A check that the benchmark measures what it says: every hit matches, (nearly) no miss does.
  state.counters["match_ratio"] =
      static_cast<double>(matched) / static_cast<double>(state.iterations());
}

void register_all() {
  size_t max = 5'000'000, literal_max = 10'000;
  if (const char* env = std::getenv("SLUICE_POLICY_BENCH_MAX")) max = std::strtoull(env, nullptr, 10);
  if (const char* env = std::getenv("SLUICE_POLICY_BENCH_LITERAL_MAX"))
    literal_max = std::strtoull(env, nullptr, 10);
  // 10k is measured for the literal matcher only, to show how its build grows.
  for (size_t n : {1'000ul, 10'000ul, 100'000ul, 1'000'000ul, 5'000'000ul}) {
    if (n > max) break;
    for (int kind : {kHash, kLiteral}) {
      if (kind == kLiteral && n > literal_max) continue;
      if (kind == kHash && n == 10'000) continue;
      const char* name = kind == kHash ? "hash_walk" : "hs_literal";
      benchmark::RegisterBenchmark((std::string("build/") + name).c_str(), BM_Build, kind)
          ->Arg(static_cast<int64_t>(n))->Iterations(1)->Unit(benchmark::kSecond);
      for (bool hits : {true, false}) {
        benchmark::RegisterBenchmark(
            (std::string("lookup_") + (hits ? "hit/" : "miss/") + name).c_str(), BM_Lookup, kind,
            hits)
            ->Arg(static_cast<int64_t>(n))
            ->Repetitions(5)
            ->ReportAggregatesOnly(true)
            ->DisplayAggregatesOnly(true);
      }
    }
  }
}

}  // namespace
}  // namespace sluice

int main(int argc, char** argv) {
  sluice::register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
