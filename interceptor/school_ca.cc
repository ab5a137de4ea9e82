#include "interceptor/school_ca.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "interceptor/x509_extension.h"

namespace sluice::intercept {
namespace {

// Writes `pem` to path with `mode`, refusing to replace an existing file.
absl::Status write_new_file(const std::string& path, const std::string& data, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat(
          path, " already exists: a CA is already there (move it away to make a new one; clients "
                "trusting the old certificate would have to be updated)"));
    }
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  // The umask may have narrowed the mode; the key must be exactly owner-only, the cert readable.
  ::fchmod(fd, mode);
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

template <typename Fn>
std::string to_pem(Fn&& write) {
  BIO* bio = BIO_new(BIO_s_mem());
  write(bio);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

}  // namespace

std::string take_openssl_errors(const std::string& fallback) {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? fallback : out;
}

std::string sha256_fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  X509_digest(cert, EVP_sha256(), md, &n);
  std::string out;
  char hex[4];
  for (unsigned int i = 0; i < n; ++i) {
    std::snprintf(hex, sizeof hex, i == 0 ? "%02X" : ":%02X", md[i]);
    out += hex;
  }
  return out;
}

absl::StatusOr<CaInitResult> init_school_ca(const std::string& dir, const std::string& name,
                                            int days) {
  if (name.empty() || name.size() > 64) {
    return absl::InvalidArgumentError("--name must be 1 to 64 characters (it is the CA's common name)");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  CaInitResult result;
  result.cert_path = (std::filesystem::path(dir) / kCaCertFile).string();
  result.key_path = (std::filesystem::path(dir) / kCaKeyFile).string();
  if (std::filesystem::exists(result.key_path) || std::filesystem::exists(result.cert_path)) {
    return absl::AlreadyExistsError(absl::StrCat(
        dir, " already holds a CA (", kCaCertFile, " or ", kCaKeyFile,
        "): move it away to make a new one; clients trusting the old certificate would have to be updated"));
  }

  PkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  if (!key || !cert) return absl::InternalError(take_openssl_errors());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("Sluice interception"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);
  X509_set_pubkey(cert.get(), key.get());
  if (!add_x509_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      !add_x509_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !add_x509_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash") ||
      !add_x509_extension(cert.get(), cert.get(), NID_authority_key_identifier, "keyid:always") ||
      X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return absl::InternalError(take_openssl_errors());
  }
  const std::string key_pem = to_pem([&](BIO* b) {
    PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  const std::string cert_pem = to_pem([&](BIO* b) { PEM_write_bio_X509(b, cert.get()); });
  if (absl::Status s = write_new_file(result.key_path, key_pem, 0600); !s.ok()) return s;
  if (absl::Status s = write_new_file(result.cert_path, cert_pem, 0644); !s.ok()) return s;
  result.sha256_fingerprint = sha256_fingerprint(cert.get());
  return result;
}

absl::StatusOr<SchoolCa> load_school_ca(const std::string& dir) {
  const std::string cert_path = (std::filesystem::path(dir) / kCaCertFile).string();
  const std::string key_path = (std::filesystem::path(dir) / kCaKeyFile).string();
  struct stat st;
  if (::stat(key_path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot read the CA key ", key_path, ": ",
                                            std::strerror(errno),
                                            " (make one with `sluice-intercept ca init --dir ", dir, "`)"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the CA key ", key_path, " is readable by group or others (mode ", mode_text(st.st_mode),
        "): chmod 600 it, and consider the key leaked"));
  }
  SchoolCa ca;
  if (FILE* f = std::fopen(cert_path.c_str(), "r")) {
    ca.cert.reset(PEM_read_X509(f, nullptr, nullptr, nullptr));
    std::fclose(f);
  }
  if (!ca.cert) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read a PEM certificate from ", cert_path,
                                                    ": ", take_openssl_errors("no such file")));
  }
  if (FILE* f = std::fopen(key_path.c_str(), "r")) {
    ca.key.reset(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
    std::fclose(f);
  }
  if (!ca.key) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read a PEM private key from ", key_path,
                                                   ": ", take_openssl_errors()));
  }
  if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(key_path, " is not the key of ", cert_path));
  }
  if (X509_check_ca(ca.cert.get()) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(cert_path, " is not a CA certificate"));
  }
  return ca;
}

std::string deployment_instructions(const CaInitResult& r) {
  return absl::StrCat(
      "School interception CA created.\n"
      "  certificate: ", r.cert_path, "  (public: deploy this to every managed device)\n"
      "  private key: ", r.key_path, "  (mode 0600: never copy it off this appliance)\n"
      "  SHA-256 fingerprint: ", r.sha256_fingerprint, "\n\n"
      "Deploy the certificate as a trusted root on the devices whose traffic is intercepted:\n"
      "  Windows (domain):  Group Policy > Computer Configuration > Windows Settings > Security\n"
      "                     Settings > Public Key Policies > Trusted Root Certification Authorities\n"
      "  Windows (Intune):  Devices > Configuration > Trusted certificate profile (computer root store)\n"
      "  macOS / iOS:       a configuration profile with a Certificate payload from your MDM\n"
      "                     (iOS also needs Settings > General > About > Certificate Trust Settings)\n"
      "  ChromeOS:          Admin console > Devices > Networks > Certificates, tick 'Chromebook'\n"
      "                     (device-level traffic ignores it: keep the never-intercept list)\n"
      "  Debian / Ubuntu:   cp ca.crt /usr/local/share/ca-certificates/sluice-school.crt &&\n"
      "                     update-ca-certificates\n"
      "  Firefox:           enterprise policy Certificates.ImportEnterpriseRoots = true\n"
      "Check on a client that the fingerprint above is the one it trusts.\n");
}

}  // namespace sluice::intercept
