#include "dataplane/core/stream_assembler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

namespace sluice {
namespace {

class StreamAssemblerTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kCap = 16384;
  void SetUp() override { reset(1000); }
  void reset(uint32_t base) {
    data_.assign(kCap, 0);
    seen_.assign((kCap + 63) / 64, 0);
    s_.reset(base, data_, seen_);
  }
  static std::vector<uint8_t> pattern(size_t n) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + 3);
    return v;
  }
  ByteSpan piece(const std::vector<uint8_t>& v, size_t from, size_t len) {
    return ByteSpan(v.data() + from, len);
  }

  std::vector<uint8_t> data_;
  std::vector<uint64_t> seen_;
  StreamAssembler s_;
};

TEST_F(StreamAssemblerTest, InOrderSegmentsBecomeContiguous) {
  auto bytes = pattern(3000);
  s_.add(1000, piece(bytes, 0, 1448));
  s_.add(1000 + 1448, piece(bytes, 1448, 1552));
  ASSERT_EQ(s_.contiguous_length(), 3000u);
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), s_.contiguous().begin()));
  EXPECT_FALSE(s_.has_gap());
}

TEST_F(StreamAssemblerTest, SplitAtEveryBytePosition) {
  auto bytes = pattern(600);
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    reset(5);
    auto a = s_.add(5, piece(bytes, 0, cut));
    auto b = s_.add(5 + static_cast<uint32_t>(cut), piece(bytes, cut, bytes.size() - cut));
    EXPECT_FALSE(a.conflict || b.conflict);
    ASSERT_EQ(s_.contiguous_length(), bytes.size()) << "cut at " << cut;
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), s_.contiguous().begin()));
  }
}

TEST_F(StreamAssemblerTest, TinySegmentsInReverseOrder) {
  auto bytes = pattern(2000);
  std::vector<std::pair<size_t, size_t>> pieces;
  size_t pos = 0, k = 0;
  while (pos < bytes.size()) {
    size_t len = std::min<size_t>(1 + (k++ % 7), bytes.size() - pos);
    pieces.push_back({pos, len});
    pos += len;
  }
  std::reverse(pieces.begin(), pieces.end());
  bool any_out_of_order = false;
  for (auto [from, len] : pieces) {
    EXPECT_EQ(s_.contiguous_length(), 0u) << "nothing is contiguous before the first piece";
    any_out_of_order |= s_.add(1000 + static_cast<uint32_t>(from), piece(bytes, from, len)).out_of_order;
    if (from == 0) break;
  }
  EXPECT_TRUE(any_out_of_order);
  ASSERT_EQ(s_.contiguous_length(), bytes.size());
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), s_.contiguous().begin()));
}

TEST_F(StreamAssemblerTest, RandomOrderWithDuplicatesIsExact) {
  auto bytes = pattern(5000);
  std::mt19937 rng(42);
  std::vector<std::pair<size_t, size_t>> pieces;
  for (size_t pos = 0; pos < bytes.size();) {
    size_t len = std::min<size_t>(1 + rng() % 300, bytes.size() - pos);
    pieces.push_back({pos, len});
    pos += len;
  }
  auto dupes = pieces;
  pieces.insert(pieces.end(), dupes.begin(), dupes.end());
  std::shuffle(pieces.begin(), pieces.end(), rng);
  for (auto [from, len] : pieces) {
    auto r = s_.add(1000 + static_cast<uint32_t>(from), piece(bytes, from, len));
    EXPECT_FALSE(r.conflict);
  }
  ASSERT_EQ(s_.contiguous_length(), bytes.size());
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), s_.contiguous().begin()));
}

TEST_F(StreamAssemblerTest, OverlapWithSameBytesIsNotAConflict) {
  auto bytes = pattern(100);
  s_.add(1000, piece(bytes, 0, 60));
  auto r = s_.add(1040, piece(bytes, 40, 60));
  EXPECT_FALSE(r.conflict);
  EXPECT_EQ(r.new_bytes, 40u);
  EXPECT_EQ(s_.contiguous_length(), 100u);
}

TEST_F(StreamAssemblerTest, ConflictingOverlapKeepsFirstBytesAndReports) {
  auto bytes = pattern(100);
  auto other = bytes;
  other[50] ^= 0xff;  // a decoy retransmission with one byte changed
  s_.add(1000, piece(bytes, 0, 60));
  auto r = s_.add(1040, piece(other, 40, 60));
  EXPECT_TRUE(r.conflict);
  ASSERT_EQ(s_.contiguous_length(), 100u);
  EXPECT_EQ(s_.contiguous()[50], bytes[50]) << "first-seen byte kept";
}

TEST_F(StreamAssemblerTest, ConflictDetectedInsideAGap) {
  auto bytes = pattern(100);
  auto other = bytes;
  other[80] ^= 1;
  s_.add(1070, piece(bytes, 70, 20));                // stored beyond a gap
  auto r = s_.add(1000, piece(other, 0, 100));       // fills the gap and overlaps 70..90
  EXPECT_TRUE(r.conflict);
  EXPECT_EQ(s_.contiguous_length(), 100u);
}

TEST_F(StreamAssemblerTest, BytesBeyondCapAreCutAndReported) {
  auto bytes = pattern(kCap + 500);
  auto r = s_.add(1000, piece(bytes, 0, kCap + 500));
  EXPECT_TRUE(r.beyond_cap);
  EXPECT_EQ(s_.contiguous_length(), kCap);
  auto r2 = s_.add(1000 + kCap + 10, piece(bytes, 0, 5));
  EXPECT_TRUE(r2.beyond_cap);
  EXPECT_EQ(r2.new_bytes, 0u);
}

TEST_F(StreamAssemblerTest, BytesBeforeBaseAreTrimmed) {
  auto bytes = pattern(100);
  // Starts 10 bytes before the stream: only the last 90 bytes count.
  auto r = s_.add(990, piece(bytes, 0, 100));
  EXPECT_EQ(r.new_bytes, 90u);
  EXPECT_EQ(s_.contiguous()[0], bytes[10]);
  EXPECT_EQ(s_.add(900, piece(bytes, 0, 50)).new_bytes, 0u);
}

TEST_F(StreamAssemblerTest, SequenceNumbersWrapAround) {
  reset(0xfffffff0u);
  auto bytes = pattern(64);
  s_.add(0xfffffff0u + 32, piece(bytes, 32, 32));  // wraps past zero
  s_.add(0xfffffff0u, piece(bytes, 0, 32));
  ASSERT_EQ(s_.contiguous_length(), 64u);
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), s_.contiguous().begin()));
}

// A pool slot's assembler is reset on the storage it used last, and clears only the part of the
// bitmap that use could have marked: nothing it stored may read as seen in the next flight.
TEST_F(StreamAssemblerTest, ReusedStorageForgetsTheLastFlight) {
  auto bytes = pattern(8000);
  s_.add(1000, piece(bytes, 0, 100));
  s_.add(1000 + 5000, piece(bytes, 5000, 1000));  // a gap, then bytes far out
  ASSERT_TRUE(s_.has_gap());
  s_.reset(77, data_, seen_);  // the same storage, not cleared by the caller
  EXPECT_EQ(s_.contiguous_length(), 0u);
  EXPECT_FALSE(s_.has_gap());
  auto other = pattern(6000);
  std::reverse(other.begin(), other.end());
  const auto far = s_.add(77 + 5000, piece(other, 5000, 1000));
  EXPECT_EQ(far.new_bytes, 1000u) << "bytes of the last flight read as seen";
  EXPECT_FALSE(far.conflict);
  EXPECT_EQ(s_.add(77, piece(other, 0, 5000)).new_bytes, 5000u);
  ASSERT_EQ(s_.contiguous_length(), 6000u);
  EXPECT_TRUE(std::equal(other.begin(), other.end(), s_.contiguous().begin()));
}

}  // namespace
}  // namespace sluice
