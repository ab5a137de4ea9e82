#include "interceptor/url_rules.h"

#include <gtest/gtest.h>

namespace sluice::intercept {
namespace {

TEST(UrlRulesTest, FirstRuleInFileOrderWinsOverHostAndPath) {
  std::vector<UrlRuleConfig> rules = {
      {"games", {"^(www\\.)?games\\.example/", "/play/"}, "f:1:1"},
      {"everything_on_x", {"^x\\.example/"}, "f:5:1"},
  };
  absl::StatusOr<std::unique_ptr<UrlRules>> r = UrlRules::compile(rules);
  ASSERT_TRUE(r.ok()) << r.status();
  auto scratch = (*r)->make_scratch();
  ASSERT_TRUE(scratch.ok());
  EXPECT_EQ((*r)->match(url_for_rules("WWW.Games.example:443", "/index.html"), **scratch), "games");
  EXPECT_EQ((*r)->match(url_for_rules("x.example", "/play/now"), **scratch), "games");
  EXPECT_EQ((*r)->match(url_for_rules("x.example", "/read"), **scratch), "everything_on_x");
  EXPECT_EQ((*r)->match(url_for_rules("notgames.example", "/"), **scratch), "");
}

// Rules see what a server would serve, not how the client spelt it.
TEST(UrlRulesTest, TheUrlIsNormalisedAsAServerResolvesIt) {
  for (const char* target : {"/games/x.html", "/%67ames/x.html", "//games/x.html", "/./games/x.html",
                             "/a/../games/x.html", "/a/b/../../games//x.html", "\\games\\x.html",
                             "/../../games/x.html", "https://localhost/games/x.html",
                             "HTTP://user@LocalHost.:8443/games/x.html"}) {
    EXPECT_EQ(url_for_rules("localhost:443", target), "localhost/games/x.html") << target;
  }
  // The authority of an absolute-form target names the host, whatever Host said.
  EXPECT_EQ(url_for_rules("allowed.example", "http://games.example/"), "games.example/");
  // The query stays as sent; a directory keeps its slash.
  EXPECT_EQ(url_for_rules("a.example", "/x/./?q=/../%41"), "a.example/x/?q=/../%41");
  EXPECT_EQ(url_for_rules("a.example", "/x/.."), "a.example/");
  EXPECT_EQ(url_for_rules("a.example", ""), "a.example/");
  EXPECT_EQ(url_for_rules("a.example", "/%zz%4"), "a.example/%zz%4");
  EXPECT_EQ(url_for_rules("[::1]:8080", "/"), "[::1]:8080/");
}

TEST(UrlRulesTest, BadExpressionNamesRuleAndPlace) {
  absl::StatusOr<std::unique_ptr<UrlRules>> r = UrlRules::compile({{"broken", {"(unclosed"}, "i.yaml:7:5"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("i.yaml:7:5: url rule `broken`: pattern `(unclosed`"),
            std::string::npos) << r.status();
}

TEST(UrlRulesTest, NoRulesMatchNothing) {
  absl::StatusOr<std::unique_ptr<UrlRules>> r = UrlRules::compile({});
  ASSERT_TRUE(r.ok());
  auto scratch = (*r)->make_scratch();
  EXPECT_EQ((*r)->match("a/b", **scratch), "");
}

}  // namespace
}  // namespace sluice::intercept
