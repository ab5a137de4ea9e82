#include "dataplane/core/anomaly.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace sluice {
namespace {

TEST(AnomalyTest, EveryAnomalyHasAUniqueName) {
  std::set<std::string> names;
  for (uint8_t i = 0; i < static_cast<uint8_t>(Anomaly::kCount); ++i) {
    auto name = anomaly_name(static_cast<Anomaly>(i));
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(std::string(name)).second) << name;
  }
}

TEST(AnomalyTest, SetIteratesMembersInOrder) {
  AnomalySet set;
  set.add(Anomaly::kSniInvalid);
  set.add(Anomaly::kOverlapConflict);
  std::vector<Anomaly> seen;
  set.for_each([&](Anomaly a) { seen.push_back(a); });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], Anomaly::kOverlapConflict);
  EXPECT_EQ(seen[1], Anomaly::kSniInvalid);
  EXPECT_TRUE(set.has(Anomaly::kSniInvalid));
  EXPECT_FALSE(set.has(Anomaly::kSynPayload));
}

}  // namespace
}  // namespace sluice
