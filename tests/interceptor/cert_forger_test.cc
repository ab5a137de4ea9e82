#include "interceptor/cert_forger.h"
#include "interceptor/x509_extension.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>

#include "interceptor/school_ca.h"

namespace sluice::intercept {
namespace {

class CertForgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("sluice-ca-" + std::to_string(::getpid()) + "-" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A stand-in for a real server's certificate: self-signed, with SANs and fixed dates.
  static X509Ptr upstream(const char* cn, const char* san, long from, long to) {
    PkeyPtr key(EVP_EC_gen("P-256"));
    X509Ptr x(X509_new());
    X509_set_version(x.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 4242);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x.get()), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509_set_issuer_name(x.get(), X509_get_subject_name(x.get()));
    X509_gmtime_adj(X509_getm_notBefore(x.get()), from);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), to);
    X509_set_pubkey(x.get(), key.get());
    add_x509_extension(x.get(), x.get(), NID_subject_alt_name, san);
    X509_sign(x.get(), key.get(), EVP_sha256());
    return x;
  }

  std::filesystem::path dir_;
  InterceptStats stats_;
};

TEST_F(CertForgerTest, CaInitWritesAnOwnerOnlyKeyAndRefusesToOverwrite) {
  absl::StatusOr<CaInitResult> r = init_school_ca(dir_.string(), "Test Trust CA");
  ASSERT_TRUE(r.ok()) << r.status();
  struct stat st;
  ASSERT_EQ(::stat(r->key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(deployment_instructions(*r).find(r->sha256_fingerprint), std::string::npos);
  absl::StatusOr<CaInitResult> again = init_school_ca(dir_.string(), "Test Trust CA");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);

  absl::StatusOr<SchoolCa> ca = load_school_ca(dir_.string());
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_EQ(X509_check_ca(ca->cert.get()), 1);
  ::chmod(r->key_path.c_str(), 0640);
  ca = load_school_ca(dir_.string());
  ASSERT_FALSE(ca.ok());
  EXPECT_NE(std::string(ca.status().message()).find("mode 0640"), std::string::npos) << ca.status();
}

TEST_F(CertForgerTest, ForgedCertificateMimicsSubjectSansAndValidityWithANewSerialSignedByTheCa) {
  ASSERT_TRUE(init_school_ca(dir_.string(), "Test Trust CA").ok());
  absl::StatusOr<SchoolCa> ca = load_school_ca(dir_.string());
  ASSERT_TRUE(ca.ok());
  X509Ptr ca_copy(X509_dup(ca->cert.get()));
  absl::StatusOr<std::unique_ptr<CertForger>> forger = CertForger::create(std::move(*ca), 2, stats_);
  ASSERT_TRUE(forger.ok());
  X509Ptr real = upstream("www.example.org", "DNS:www.example.org,DNS:example.org", -86400, 30 * 86400);
  absl::StatusOr<SharedX509> forged = (*forger)->forge(real.get(), "www.example.org");
  ASSERT_TRUE(forged.ok()) << forged.status();
  X509* f = forged->get();
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(f), X509_get_subject_name(real.get())), 0);
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(f), X509_get_subject_name(ca_copy.get())), 0);
  EXPECT_EQ(ASN1_TIME_compare(X509_get0_notAfter(f), X509_get0_notAfter(real.get())), 0);
  EXPECT_EQ(ASN1_TIME_compare(X509_get0_notBefore(f), X509_get0_notBefore(real.get())), 0);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(f), X509_get0_serialNumber(real.get())), 0);
  EXPECT_EQ(X509_check_host(f, "example.org", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(f, "www.example.org", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_verify(f, X509_get0_pubkey(ca_copy.get())), 1);
  EXPECT_EQ(X509_check_private_key(f, (*forger)->leaf_key()), 1);

  // Cached by (upstream certificate, SNI); bounded: the least recently used goes first.
  absl::StatusOr<SharedX509> hit = (*forger)->forge(real.get(), "www.example.org");
  EXPECT_EQ(hit->get(), f);
  EXPECT_EQ(stats_.forged_cache_hits.load(), 1u);
  ASSERT_TRUE((*forger)->forge(real.get(), "example.org").ok());
  X509Ptr other = upstream("other.example", "DNS:other.example", -10, 86400);
  ASSERT_TRUE((*forger)->forge(other.get(), "other.example").ok());
  EXPECT_EQ((*forger)->cached(), 2u);
  EXPECT_EQ(stats_.forged_cache_evictions.load(), 1u);
  absl::StatusOr<SharedX509> remade = (*forger)->forge(real.get(), "www.example.org");
  EXPECT_NE(remade->get(), f);  // evicted, so made again (with a new serial)
}

TEST_F(CertForgerTest, UntrustedFailureCertificateIsNotSignedByTheSchoolCa) {
  ASSERT_TRUE(init_school_ca(dir_.string(), "Test Trust CA").ok());
  absl::StatusOr<SchoolCa> ca = load_school_ca(dir_.string());
  X509Ptr ca_copy(X509_dup(ca->cert.get()));
  absl::StatusOr<std::unique_ptr<CertForger>> forger = CertForger::create(std::move(*ca), 10, stats_);
  absl::StatusOr<SharedX509> u = (*forger)->untrusted("bad.example");
  ASSERT_TRUE(u.ok());
  EXPECT_NE(X509_verify(u->get(), X509_get0_pubkey(ca_copy.get())), 1);
  EXPECT_NE(X509_NAME_cmp(X509_get_issuer_name(u->get()), X509_get_subject_name(ca_copy.get())), 0);
  EXPECT_EQ(X509_check_host(u->get(), "bad.example", 0, 0, nullptr), 1);
}

}  // namespace
}  // namespace sluice::intercept
