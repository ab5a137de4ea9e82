// The packet path promise of QuicInitialCrypto / QuicInitialReader: once a worker's reader exists
// and a flow's keys are derived, reading an Initial (header protection, AES-GCM, frames, CRYPTO
// reassembly) makes no heap allocation inside OpenSSL. OpenSSL's allocator is replaced before
// main() (CRYPTO_set_mem_functions only works before its first allocation) with one that counts.
// The first Initial of a flow (key schedule included) is held to the same promise.
#include <openssl/crypto.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <vector>

#include "dataplane/core/quic_initial_reader.h"
#include "tests/dataplane/core/quic_initial_builder.h"

namespace sluice {
namespace {

std::atomic<uint64_t> g_openssl_allocations{0};

void* counting_malloc(size_t n, const char*, int) {
  ++g_openssl_allocations;
  return std::malloc(n);
}
void* counting_realloc(void* p, size_t n, const char*, int) {
  ++g_openssl_allocations;
  return std::realloc(p, n);
}
void counting_free(void* p, const char*, int) { std::free(p); }

const bool g_counting =
    CRYPTO_set_mem_functions(counting_malloc, counting_realloc, counting_free) == 1;

TEST(QuicInitialAllocationTest, ReadingInitialsAllocatesNothingInOpenSsl) {
  if (!g_counting) GTEST_SKIP() << "OpenSSL allocated before the counter could be installed";
  test::QuicInitialSpec spec;
  spec.frames = test::quic_crypto_frame(0, test::quic_client_hello("alloc.example"));
  const Bytes packet = test::build_quic_initial(spec);

  QuicInitialReader reader;
  std::vector<uint8_t> bytes(16384);
  std::vector<uint64_t> seen(256);
  StreamAssembler stream;
  stream.reset(0, bytes, seen);
  QuicFlightState state;
  ASSERT_EQ(reader.read(packet, state, stream).initials, 1);  // derives the keys

  const uint64_t before = g_openssl_allocations.load();
  for (int i = 0; i < 100; ++i) {
    stream.reset(0, bytes, seen);
    ASSERT_EQ(reader.read(packet, state, stream).initials, 1);
  }
  EXPECT_EQ(g_openssl_allocations.load() - before, 0u) << "OpenSSL allocated on the packet path";

  // A flow's first Initial runs the key schedule too (HMAC-SHA256 on SHA256_CTX): nothing either.
  const uint64_t first_before = g_openssl_allocations.load();
  for (int i = 0; i < 20; ++i) {
    QuicFlightState fresh;
    stream.reset(0, bytes, seen);
    ASSERT_EQ(reader.read(packet, fresh, stream).initials, 1);
  }
  EXPECT_EQ(g_openssl_allocations.load() - first_before, 0u) << "the key schedule allocated";
}

}  // namespace
}  // namespace sluice
