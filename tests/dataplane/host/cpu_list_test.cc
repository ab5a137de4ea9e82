#include "dataplane/host/cpu_list.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(CpuList, ParsesWhatTheKernelWrites) {
  EXPECT_EQ(*parse_cpu_list("0-3,8,10-11\n"), (CpuSet{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_EQ(*parse_cpu_list("5"), (CpuSet{5}));
  EXPECT_TRUE(parse_cpu_list("\n")->empty());
  EXPECT_TRUE(parse_cpu_list("")->empty());
}

TEST(CpuList, RefusesWhatIsNotAList) {
  for (const char* bad : {"a", "3-1", "1,,2", "1-", "-1", "0-99999999"})
    EXPECT_FALSE(parse_cpu_list(bad).ok()) << bad;
  EXPECT_NE(parse_cpu_list("0-2,x").status().message().find("\"x\""), std::string::npos);
}

TEST(CpuList, FormatsShortestForm) {
  EXPECT_EQ(format_cpu_list({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10,11");
  EXPECT_EQ(format_cpu_list({2, 3}), "2,3");
  EXPECT_EQ(format_cpu_list({}), "");
  EXPECT_EQ(*parse_cpu_list(format_cpu_list({1, 4, 5, 6, 9})), (CpuSet{1, 4, 5, 6, 9}));
}

TEST(CpuList, ParsesMasks) {
  EXPECT_EQ(*parse_cpu_mask("f1\n"), (CpuSet{0, 4, 5, 6, 7}));
  EXPECT_EQ(*parse_cpu_mask("00000001,00000003"), (CpuSet{0, 1, 32}));
  EXPECT_FALSE(parse_cpu_mask("fg").ok());
}

TEST(CpuList, FormatsMasksAsTheKernelTakesThem) {
  EXPECT_EQ(format_cpu_mask({0, 4, 5, 6, 7}), "f1");
  EXPECT_EQ(format_cpu_mask({0, 32}), "1,00000001");
  EXPECT_EQ(format_cpu_mask({}), "0");
  EXPECT_EQ(*parse_cpu_mask(format_cpu_mask({1, 9, 40, 63})), (CpuSet{1, 9, 40, 63}));
}

}  // namespace
}  // namespace sluice
