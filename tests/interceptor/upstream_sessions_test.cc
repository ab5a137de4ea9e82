#include "interceptor/upstream_sessions.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "interceptor/cert_forger.h"
#include "interceptor/school_ca.h"
#include "interceptor/tls_contexts.h"
#include "interceptor/x509_extension.h"
#include "tests/interceptor/tls_test_peer.h"

namespace sluice::intercept {
namespace {

using test::make_cert;

// A real TLS server (OpenSSL, tickets on, its default two per handshake) for a.test and b.test
// under a private root, and the interceptor's own upstream context trusting that root. The two
// sides talk through an in-memory BIO pair: every byte of the handshakes is real TLS.
class UpstreamSessionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice-sessions-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    root_key_.reset(EVP_EC_gen("P-256"));
    root_ = make_cert("Test Upstream Root", nullptr, root_key_.get(), nullptr, nullptr, 1);
    server_key_.reset(EVP_EC_gen("P-256"));
    server_cert_ = make_cert("a.test", "DNS:a.test,DNS:b.test", server_key_.get(), root_.get(),
                             root_key_.get(), 2);
    const std::string root_pem = (dir_ / "root.pem").string();
    FILE* f = std::fopen(root_pem.c_str(), "w");
    ASSERT_NE(f, nullptr);
    PEM_write_X509(f, root_.get());
    std::fclose(f);

    absl::StatusOr<SslCtxPtr> up = make_upstream_context({root_pem});
    ASSERT_TRUE(up.ok()) << up.status();
    upstream_ctx_ = std::move(*up);
    UpstreamSessions::enable(upstream_ctx_.get());
    server_ctx_ = make_server_ctx(TLS1_3_VERSION);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  SslCtxPtr make_server_ctx(int max_version) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    SSL_CTX_use_certificate(ctx.get(), server_cert_.get());
    SSL_CTX_use_PrivateKey(ctx.get(), server_key_.get());
    SSL_CTX_set_max_proto_version(ctx.get(), max_version);
    return ctx;
  }

  // One connection as Connection::finish_connect makes it: prepared with the SNI and the name to
  // verify, bound to `cache` under the server's key, handshaken, then one byte read so the
  // tickets a TLS 1.3 server sends after its handshake are taken in. Null when the handshake
  // failed; `offered` says whether the cache offered a session.
  SslPtr connect(UpstreamSessions& cache, const std::string& sni, const std::string& verify_name,
                 uint16_t port = 443, bool* offered = nullptr, SSL_CTX* server_ctx = nullptr) {
    SslPtr client(SSL_new(upstream_ctx_.get()));
    EXPECT_TRUE(prepare_upstream_ssl(client.get(), sni, verify_name));
    const bool o = cache.bind_and_offer(client.get(), UpstreamSessions::key("192.0.2.7", port, sni, verify_name));
    if (offered != nullptr) *offered = o;
    if (!test::handshake_with(client.get(), server_ctx != nullptr ? server_ctx : server_ctx_.get()))
      return nullptr;
    return client;
  }

  std::filesystem::path dir_;
  PkeyPtr root_key_, server_key_;
  X509Ptr root_, server_cert_;
  SslCtxPtr upstream_ctx_, server_ctx_;
};

TEST_F(UpstreamSessionsTest, TheSecondConnectionToTheSameServerResumesAndStillSeesItsCertificate) {
  UpstreamSessions cache(100);
  bool offered = true;
  SslPtr first = connect(cache, "a.test", "a.test", 443, &offered);
  ASSERT_NE(first, nullptr);
  EXPECT_FALSE(offered);
  EXPECT_EQ(SSL_session_reused(first.get()), 0);
  EXPECT_EQ(cache.size(), 2u);  // the server's two TLS 1.3 tickets

  SslPtr second = connect(cache, "a.test", "a.test", 443, &offered);
  ASSERT_NE(second, nullptr);
  EXPECT_TRUE(offered);
  EXPECT_EQ(SSL_session_reused(second.get()), 1);
  EXPECT_EQ(SSL_version(second.get()), TLS1_3_VERSION);
  X509Ptr peer(SSL_get1_peer_certificate(second.get()));
  ASSERT_NE(peer, nullptr);
  EXPECT_EQ(X509_cmp(peer.get(), server_cert_.get()), 0);
  EXPECT_EQ(SSL_get_verify_result(second.get()), X509_V_OK);

  // The ticket sent on the resumed connection resumes too, still carrying the certificate.
  for (int i = 0; i < 4; ++i) {
    SslPtr again = connect(cache, "a.test", "a.test");
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(SSL_session_reused(again.get()), 1);
    X509Ptr p(SSL_get1_peer_certificate(again.get()));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(X509_cmp(p.get(), server_cert_.get()), 0);
  }
}

TEST_F(UpstreamSessionsTest, TheForgedCertificateOfAResumedConnectionMimicsTheRealOne) {
  ASSERT_TRUE(init_school_ca((dir_ / "ca").string(), "Test Trust CA").ok());
  absl::StatusOr<SchoolCa> ca = load_school_ca((dir_ / "ca").string());
  ASSERT_TRUE(ca.ok()) << ca.status();
  InterceptStats stats;
  absl::StatusOr<std::unique_ptr<CertForger>> forger = CertForger::create(std::move(*ca), 10, stats);
  ASSERT_TRUE(forger.ok()) << forger.status();

  UpstreamSessions cache(100);
  ASSERT_NE(connect(cache, "a.test", "a.test"), nullptr);
  SslPtr resumed = connect(cache, "a.test", "a.test");
  ASSERT_NE(resumed, nullptr);
  ASSERT_EQ(SSL_session_reused(resumed.get()), 1);
  X509Ptr peer(SSL_get1_peer_certificate(resumed.get()));
  ASSERT_NE(peer, nullptr);
  absl::StatusOr<SharedX509> forged = (*forger)->forge(peer.get(), "a.test");
  ASSERT_TRUE(forged.ok()) << forged.status();
  X509* f = forged->get();
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(f), X509_get_subject_name(server_cert_.get())), 0);
  EXPECT_EQ(ASN1_TIME_compare(X509_get0_notAfter(f), X509_get0_notAfter(server_cert_.get())), 0);
  EXPECT_EQ(X509_check_host(f, "b.test", 0, 0, nullptr), 1);  // the real certificate's SANs
  EXPECT_EQ(X509_check_host(f, "c.test", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_issued((*forger)->ca_cert(), f), X509_V_OK);
}

TEST_F(UpstreamSessionsTest, ADifferentSniNameOrPortDoesNotResume) {
  UpstreamSessions cache(100);
  ASSERT_NE(connect(cache, "a.test", "a.test"), nullptr);
  bool offered = true;
  SslPtr other_sni = connect(cache, "b.test", "b.test", 443, &offered);
  ASSERT_NE(other_sni, nullptr);
  EXPECT_FALSE(offered);
  EXPECT_EQ(SSL_session_reused(other_sni.get()), 0);
  // Same SNI, another name to verify (as when the client sent none and the address is checked).
  SslPtr other_name = connect(cache, "a.test", "b.test", 443, &offered);
  ASSERT_NE(other_name, nullptr);
  EXPECT_FALSE(offered);
  SslPtr other_port = connect(cache, "a.test", "a.test", 8443, &offered);
  ASSERT_NE(other_port, nullptr);
  EXPECT_FALSE(offered);
  EXPECT_EQ(SSL_session_reused(other_port.get()), 0);
}

TEST_F(UpstreamSessionsTest, AFailedVerificationStoresNothingAndForgetDropsTheServer) {
  UpstreamSessions cache(100);
  EXPECT_EQ(connect(cache, "c.test", "c.test"), nullptr);  // not a name of the certificate
  EXPECT_EQ(cache.size(), 0u);
  ASSERT_NE(connect(cache, "a.test", "a.test"), nullptr);
  ASSERT_GT(cache.size(), 0u);
  cache.forget(UpstreamSessions::key("192.0.2.7", 443, "a.test", "a.test"));
  EXPECT_EQ(cache.size(), 0u);
  bool offered = true;
  SslPtr full = connect(cache, "a.test", "a.test", 443, &offered);
  ASSERT_NE(full, nullptr);
  EXPECT_FALSE(offered);
  EXPECT_EQ(SSL_session_reused(full.get()), 0);
}

TEST_F(UpstreamSessionsTest, AnExpiredSessionIsDroppedNotOffered) {
  UpstreamSessions cache(100);
  ASSERT_NE(connect(cache, "a.test", "a.test"), nullptr);
  ASSERT_GT(cache.size(), 0u);
  SslPtr ssl(SSL_new(upstream_ctx_.get()));
  const time_t next_year = std::time(nullptr) + 365 * 86400;
  EXPECT_FALSE(cache.bind_and_offer(ssl.get(), UpstreamSessions::key("192.0.2.7", 443, "a.test", "a.test"),
                                    next_year));
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(UpstreamSessionsTest, ATls12SessionIsKeptAndReused) {
  SslCtxPtr tls12 = make_server_ctx(TLS1_2_VERSION);
  UpstreamSessions cache(100);
  ASSERT_NE(connect(cache, "a.test", "a.test", 443, nullptr, tls12.get()), nullptr);
  EXPECT_EQ(cache.size(), 1u);
  for (int i = 0; i < 3; ++i) {
    SslPtr again = connect(cache, "a.test", "a.test", 443, nullptr, tls12.get());
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(SSL_version(again.get()), TLS1_2_VERSION);
    EXPECT_EQ(SSL_session_reused(again.get()), 1);
    X509Ptr peer(SSL_get1_peer_certificate(again.get()));
    ASSERT_NE(peer, nullptr);
    EXPECT_EQ(X509_cmp(peer.get(), server_cert_.get()), 0);
    EXPECT_EQ(cache.size(), 1u);
  }
}

TEST_F(UpstreamSessionsTest, TheCacheIsBoundedAndEvictsTheLeastRecentlyUsedServer) {
  UpstreamSessions cache(3);
  ASSERT_NE(connect(cache, "a.test", "a.test", 1), nullptr);  // 2 tickets
  ASSERT_NE(connect(cache, "a.test", "a.test", 2), nullptr);  // 2 more: port 1's oldest goes
  EXPECT_EQ(cache.size(), 3u);
  ASSERT_NE(connect(cache, "a.test", "a.test", 3), nullptr);
  EXPECT_EQ(cache.size(), 3u);
  bool offered = true;
  ASSERT_NE(connect(cache, "a.test", "a.test", 1, &offered), nullptr);
  EXPECT_FALSE(offered);  // port 1 was the least recently used
  SslPtr kept = connect(cache, "a.test", "a.test", 3, &offered);
  ASSERT_NE(kept, nullptr);
  EXPECT_TRUE(offered);
  EXPECT_EQ(SSL_session_reused(kept.get()), 1);
  EXPECT_LE(cache.size(), 3u);
}

TEST_F(UpstreamSessionsTest, ZeroCapacityTurnsResumptionOff) {
  UpstreamSessions cache(0);
  ASSERT_NE(connect(cache, "a.test", "a.test"), nullptr);
  EXPECT_EQ(cache.size(), 0u);
  bool offered = true;
  SslPtr again = connect(cache, "a.test", "a.test", 443, &offered);
  ASSERT_NE(again, nullptr);
  EXPECT_FALSE(offered);
  EXPECT_EQ(SSL_session_reused(again.get()), 0);
}

}  // namespace
}  // namespace sluice::intercept
