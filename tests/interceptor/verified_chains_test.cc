// VerifiedChains against a real OpenSSL server through the interceptor's own upstream context:
// a chain verified once is not verified again for the same name, and nothing else changes.
#include "interceptor/verified_chains.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include <atomic>

#include "interceptor/tls_contexts.h"
#include "tests/interceptor/tls_test_peer.h"

namespace sluice::intercept {
namespace {

class VerifiedChainsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_key_.reset(EVP_EC_gen("P-256"));
    root_ = test::make_cert("Test Chains Root", nullptr, root_key_.get(), nullptr, nullptr, 1);
    key_.reset(EVP_EC_gen("P-256"));
    cert_ = test::make_cert("a.test", "DNS:a.test,DNS:b.test", key_.get(), root_.get(),
                            root_key_.get(), 2);
    absl::StatusOr<SslCtxPtr> up = make_upstream_context({});
    ASSERT_TRUE(up.ok()) << up.status();
    upstream_ctx_ = std::move(*up);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(upstream_ctx_.get()), root_.get());
    VerifiedChains::enable(upstream_ctx_.get());
    server_ctx_ = server(cert_.get(), key_.get());
  }

  static SslCtxPtr server(X509* cert, EVP_PKEY* key) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    EXPECT_EQ(SSL_CTX_use_certificate(ctx.get(), cert), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx.get(), key), 1);
    return ctx;
  }

  // One server handshake as Connection makes it; true when it verified and completed.
  bool connect(VerifiedChains& cache, const std::string& name, SSL_CTX* server_ctx = nullptr) {
    SslPtr client(SSL_new(upstream_ctx_.get()));
    EXPECT_TRUE(prepare_upstream_ssl(client.get(), name, name));
    cache.bind(client.get());
    const bool ok = test::handshake_with(client.get(), server_ctx != nullptr ? server_ctx : server_ctx_.get());
    if (ok) {
      EXPECT_EQ(SSL_get_verify_result(client.get()), X509_V_OK);
    }
    return ok;
  }

  PkeyPtr root_key_, key_;
  X509Ptr root_, cert_;
  SslCtxPtr upstream_ctx_, server_ctx_;
  std::atomic<uint64_t> hits_{0};
};

TEST_F(VerifiedChainsTest, TheSameChainForTheSameNameIsVerifiedOnce) {
  VerifiedChains cache(100, 300, &hits_);
  ASSERT_TRUE(connect(cache, "a.test"));
  EXPECT_EQ(hits_, 0u);
  EXPECT_EQ(cache.size(), 1u);
  ASSERT_TRUE(connect(cache, "a.test"));
  ASSERT_TRUE(connect(cache, "a.test"));
  EXPECT_EQ(hits_, 2u);
  EXPECT_EQ(cache.size(), 1u);
}

TEST_F(VerifiedChainsTest, AnotherNameIsCheckedInFullAndAWrongOneStillFails) {
  VerifiedChains cache(100, 300, &hits_);
  ASSERT_TRUE(connect(cache, "a.test"));
  EXPECT_FALSE(connect(cache, "c.test")) << "c.test is not in the certificate";
  ASSERT_TRUE(connect(cache, "b.test"));
  EXPECT_EQ(hits_, 0u);
  EXPECT_EQ(cache.size(), 2u);
}

TEST_F(VerifiedChainsTest, FailuresAreNeverKept) {
  VerifiedChains cache(100, 300, &hits_);
  PkeyPtr other_key(EVP_EC_gen("P-256"));
  X509Ptr self_signed = test::make_cert("a.test", "DNS:a.test", other_key.get(), nullptr, nullptr, 3);
  SslCtxPtr untrusted = server(self_signed.get(), other_key.get());
  EXPECT_FALSE(connect(cache, "a.test", untrusted.get()));
  EXPECT_FALSE(connect(cache, "a.test", untrusted.get()));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(hits_, 0u);
}

TEST_F(VerifiedChainsTest, BoundedLeastRecentlyUsedAndOffAtZero) {
  VerifiedChains one(1, 300, &hits_);
  ASSERT_TRUE(connect(one, "a.test"));
  ASSERT_TRUE(connect(one, "b.test"));  // a.test's entry goes
  EXPECT_EQ(one.size(), 1u);
  ASSERT_TRUE(connect(one, "a.test"));
  EXPECT_EQ(hits_, 0u);
  for (VerifiedChains off : {VerifiedChains(0, 300, &hits_), VerifiedChains(100, 0, &hits_)}) {
    ASSERT_TRUE(connect(off, "a.test"));
    ASSERT_TRUE(connect(off, "a.test"));
    EXPECT_EQ(off.size(), 0u);
  }
  EXPECT_EQ(hits_, 0u);
}

}  // namespace
}  // namespace sluice::intercept
