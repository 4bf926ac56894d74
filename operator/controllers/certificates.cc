#include "operator/controllers/certificates.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace geostorm::controllers {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

Cert ReadCertificate(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

absl::Status OpenSslError(const std::string& what) {
  return absl::InternalError(absl::StrCat("certificates: ", what, " failed"));
}

std::string ToPem(const std::function<int(BIO*)>& write) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) return "";
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

bool AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `key`, signed by `issuer_key` (self-signed when issuer is null).
absl::StatusOr<Cert> Sign(EVP_PKEY* key, const std::string& common_name, X509* issuer, EVP_PKEY* issuer_key,
                          std::chrono::seconds validity) {
  Cert cert(X509_new());
  unsigned char serial[16];
  if (!cert || RAND_bytes(serial, sizeof(serial)) != 1) return OpenSslError("X509_new");
  serial[0] &= 0x7f;  // a positive serial
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_set_version(cert.get(), 2);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(validity.count()));
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("geostorm"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                             -1, 0);
  X509* signer = issuer == nullptr ? cert.get() : issuer;
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (!AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash"))
    return OpenSslError("subjectKeyIdentifier");
  if (issuer == nullptr) {
    if (!AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE") ||
        !AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign")) {
      return OpenSslError("CA extensions");
    }
  }
  return cert;
}

}  // namespace

absl::StatusOr<KeyPair> MakeCertificateAuthority(const std::string& common_name, std::chrono::seconds validity) {
  Key key(EVP_EC_gen("P-256"));
  if (!key) return OpenSslError("EC key generation");
  absl::StatusOr<Cert> cert = Sign(key.get(), common_name, nullptr, nullptr, validity);
  if (!cert.ok()) return cert.status();
  if (X509_sign(cert->get(), key.get(), EVP_sha256()) == 0) return OpenSslError("X509_sign");
  return KeyPair{ToPem([&](BIO* b) { return PEM_write_bio_X509(b, cert->get()); }), ToPem([&](BIO* b) {
                   return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
                 })};
}

absl::StatusOr<KeyPair> MakeCertificate(const KeyPair& ca, const std::string& common_name,
                                        const std::vector<std::string>& dns_names, std::chrono::seconds validity) {
  Bio key_bio(BIO_new_mem_buf(ca.key_pem.data(), static_cast<int>(ca.key_pem.size())));
  Cert ca_cert = ReadCertificate(ca.cert_pem);
  Key ca_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!ca_cert || !ca_key) return absl::InvalidArgumentError("certificates: the job's CA is not a PEM pair");
  Key key(EVP_EC_gen("P-256"));
  if (!key) return OpenSslError("EC key generation");
  absl::StatusOr<Cert> cert = Sign(key.get(), common_name, ca_cert.get(), ca_key.get(), validity);
  if (!cert.ok()) return cert.status();
  std::vector<std::string> names;
  names.reserve(dns_names.size());
  for (const std::string& name : dns_names) {
    unsigned char address[16];
    const bool ip = inet_pton(AF_INET, name.c_str(), address) == 1 || inet_pton(AF_INET6, name.c_str(), address) == 1;
    names.push_back(absl::StrCat(ip ? "IP:" : "DNS:", name));
  }
  if (!AddExtension(cert->get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always") ||
      !AddExtension(cert->get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !AddExtension(cert->get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
      !AddExtension(cert->get(), ca_cert.get(), NID_ext_key_usage, "serverAuth,clientAuth") ||
      (!names.empty() && !AddExtension(cert->get(), ca_cert.get(), NID_subject_alt_name, absl::StrJoin(names, ",")))) {
    return OpenSslError("certificate extensions");
  }
  if (X509_sign(cert->get(), ca_key.get(), EVP_sha256()) == 0) return OpenSslError("X509_sign");
  return KeyPair{ToPem([&](BIO* b) { return PEM_write_bio_X509(b, cert->get()); }), ToPem([&](BIO* b) {
                   return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
                 })};
}

bool CertifiesName(const std::string& cert_pem, const std::string& name) {
  Cert cert = ReadCertificate(cert_pem);
  return cert && X509_check_host(cert.get(), name.data(), name.size(), 0, nullptr) == 1;
}

std::optional<std::chrono::system_clock::time_point> RenewalTime(const std::string& cert_pem) {
  Cert cert = ReadCertificate(cert_pem);
  std::tm not_before{};
  std::tm not_after{};
  if (!cert || ASN1_TIME_to_tm(X509_get0_notBefore(cert.get()), &not_before) != 1 ||
      ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &not_after) != 1) {
    return std::nullopt;
  }
  const auto from = std::chrono::system_clock::from_time_t(timegm(&not_before));
  const auto until = std::chrono::system_clock::from_time_t(timegm(&not_after));
  return until - (until - from) / 3;
}

}  // namespace geostorm::controllers
