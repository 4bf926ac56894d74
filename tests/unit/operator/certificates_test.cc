// The per-job CA signs each DC's certificate, which names its gateway.
#include "operator/controllers/certificates.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace geostorm::controllers {
namespace {

X509* Read(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

TEST(Certificates, CaSignsALeafWithItsNames) {
  absl::StatusOr<KeyPair> ca = MakeCertificateAuthority("test ca");
  ASSERT_TRUE(ca.ok()) << ca.status();
  absl::StatusOr<KeyPair> leaf = MakeCertificate(*ca, "resnet-eu", {"resnet-eu-gateway", "*.resnet-eu.ml.svc"});
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  X509* ca_cert = Read(ca->cert_pem);
  X509* leaf_cert = Read(leaf->cert_pem);
  ASSERT_NE(ca_cert, nullptr);
  ASSERT_NE(leaf_cert, nullptr);
  EXPECT_EQ(X509_verify(leaf_cert, X509_get0_pubkey(ca_cert)), 1);
  EXPECT_EQ(X509_check_host(leaf_cert, "resnet-eu-gateway", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(leaf_cert, "resnet-eu-0.resnet-eu.ml.svc", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(leaf_cert, "resnet-us-gateway", 0, 0, nullptr), 0);
  EXPECT_TRUE(CertifiesName(leaf->cert_pem, "resnet-eu-gateway"));
  EXPECT_FALSE(CertifiesName(leaf->cert_pem, "resnet-us-gateway"));
  EXPECT_FALSE(CertifiesName("not pem", "resnet-eu-gateway"));
  EXPECT_EQ(X509_check_ca(ca_cert), 1);
  EXPECT_EQ(X509_check_ca(leaf_cert), 0);
  absl::StatusOr<KeyPair> other = MakeCertificateAuthority("other ca");
  X509* other_cert = Read(other->cert_pem);
  EXPECT_NE(X509_verify(leaf_cert, X509_get0_pubkey(other_cert)), 1);
  X509_free(other_cert);
  X509_free(ca_cert);
  X509_free(leaf_cert);
  EXPECT_FALSE(MakeCertificate({"not pem", "not pem"}, "x", {}).ok());
}

TEST(Certificates, RenewalIsDueWhenAThirdOfTheValidityIsLeft) {
  absl::StatusOr<KeyPair> ca = MakeCertificateAuthority("test ca");
  ASSERT_TRUE(ca.ok()) << ca.status();
  const auto now = std::chrono::system_clock::now();
  absl::StatusOr<KeyPair> leaf = MakeCertificate(*ca, "eu", {"eu"}, std::chrono::seconds(3600));
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  std::optional<std::chrono::system_clock::time_point> renewal = RenewalTime(leaf->cert_pem);
  ASSERT_TRUE(renewal.has_value());
  // Valid from 300 s ago (skew) to 3600 s from now: due 1300 s before the end.
  EXPECT_NEAR(std::chrono::duration<double>(*renewal - now).count(), 2300, 2);
  EXPECT_FALSE(RenewalTime("not pem").has_value());
}

}  // namespace
}  // namespace geostorm::controllers
