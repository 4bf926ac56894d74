// The certificate store on a fake API: minted once and reused, completed when a DC
// is added, renewed before it expires, and a corrupt Secret reported, never
// silently replaced by a new CA.
#include "operator/controllers/certificate_store.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/escaping.h"
#include "tests/unit/operator/fake_client.h"

namespace geostorm::controllers {
namespace {

using kube::Json;

Json Job() {
  return {{"apiVersion", "geostorm.io/v1alpha1"},
          {"kind", "GeoTrainingJob"},
          {"metadata", {{"namespace", "default"}, {"name", "resnet"}, {"uid", "u-1"}}}};
}

api::JobSpec Spec(const std::vector<std::string>& dcs) {
  api::JobSpec spec;
  for (const std::string& dc : dcs) {
    api::DataCenterSpec d;
    d.name = dc;
    spec.data_centers.push_back(d);
  }
  return spec;
}

Json& SecretData(kube::FakeClient& api) {
  return api.objects.at(kube::kSecrets.Path("default", "resnet-geostorm-ca"))["data"];
}

TEST(CertificateStore, MintsOnceThenReusesWhatTheSecretHolds) {
  kube::FakeClient api;
  CertificateStore store(api, "operator.geostorm.svc");
  absl::StatusOr<std::map<std::string, KeyPair>> first = store.Ensure(Job(), Spec({"eu", "us"}));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->size(), 4u);  // ca, eu, us, controller
  EXPECT_EQ(api.calls["apply"], 1);

  CertificateStore restarted(api, "operator.geostorm.svc");  // a new operator process: no cache
  absl::StatusOr<std::map<std::string, KeyPair>> again = restarted.Ensure(Job(), Spec({"eu", "us"}));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->at(CertificateStore::kCaKey).cert_pem, first->at(CertificateStore::kCaKey).cert_pem);
  EXPECT_EQ(again->at("eu").key_pem, first->at("eu").key_pem);
  EXPECT_EQ(api.calls["apply"], 1);  // nothing new to write

  absl::StatusOr<std::map<std::string, KeyPair>> grown = restarted.Ensure(Job(), Spec({"eu", "us", "ap"}));
  ASSERT_TRUE(grown.ok());
  EXPECT_EQ(grown->at(CertificateStore::kCaKey).cert_pem, first->at(CertificateStore::kCaKey).cert_pem);
  EXPECT_FALSE(grown->at("ap").cert_pem.empty());
  EXPECT_EQ(api.calls["apply"], 2);
}

TEST(CertificateStore, EachDcsCertificateNamesItsDcAndOneThatDoesNotIsMintedAgain) {
  kube::FakeClient api;
  CertificateStore store(api, "");
  absl::StatusOr<std::map<std::string, KeyPair>> first = store.Ensure(Job(), Spec({"eu", "us"}));
  ASSERT_TRUE(first.ok()) << first.status();
  // What the sidecars check when they dial a DC (control::DataCenterIdentity of job "default.resnet").
  EXPECT_TRUE(CertifiesName(first->at("eu").cert_pem, "eu.default.resnet.geostorm"));
  EXPECT_FALSE(CertifiesName(first->at("eu").cert_pem, "us.default.resnet.geostorm"));

  // A certificate from before the DC names: the job's CA signed it, but it names the gateway only.
  absl::StatusOr<KeyPair> old =
      MakeCertificate(first->at(CertificateStore::kCaKey), "resnet-eu", {"resnet-eu-gateway"});
  ASSERT_TRUE(old.ok()) << old.status();
  SecretData(api)["eu.crt"] = absl::Base64Escape(old->cert_pem);
  SecretData(api)["eu.key"] = absl::Base64Escape(old->key_pem);
  absl::StatusOr<std::map<std::string, KeyPair>> renewed = CertificateStore(api, "").Ensure(Job(), Spec({"eu", "us"}));
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_TRUE(CertifiesName(renewed->at("eu").cert_pem, "eu.default.resnet.geostorm"));
  EXPECT_EQ(renewed->at(CertificateStore::kCaKey).cert_pem, first->at(CertificateStore::kCaKey).cert_pem);
  EXPECT_EQ(renewed->at("us").key_pem, first->at("us").key_pem);  // already right: kept
  EXPECT_EQ(api.calls["apply"], 2);
}

TEST(CertificateStore, ACertificateIsRenewedFromTheSameCaOnceAThirdOfItsValidityIsLeft) {
  kube::FakeClient api;
  CertificateStore store(api, "operator.geostorm.svc");
  absl::StatusOr<std::map<std::string, KeyPair>> first = store.Ensure(Job(), Spec({"eu", "us"}));
  ASSERT_TRUE(first.ok()) << first.status();
  // eu's certificate is valid from 300 s ago (skew) for 153 s more: due in 2 s.
  absl::StatusOr<KeyPair> short_lived = MakeCertificate(first->at(CertificateStore::kCaKey), "resnet-eu",
                                                        {"eu.default.resnet.geostorm"}, std::chrono::seconds(153));
  ASSERT_TRUE(short_lived.ok()) << short_lived.status();
  SecretData(api)["eu.crt"] = absl::Base64Escape(short_lived->cert_pem);
  SecretData(api)["eu.key"] = absl::Base64Escape(short_lived->key_pem);

  CertificateStore restarted(api, "operator.geostorm.svc");
  absl::StatusOr<std::map<std::string, KeyPair>> kept = restarted.Ensure(Job(), Spec({"eu", "us"}));
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->at("eu").cert_pem, short_lived->cert_pem);  // not due yet
  EXPECT_EQ(api.calls["apply"], 1);

  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  absl::StatusOr<std::map<std::string, KeyPair>> renewed = restarted.Ensure(Job(), Spec({"eu", "us"}));
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_NE(renewed->at("eu").cert_pem, short_lived->cert_pem);
  EXPECT_GT(*RenewalTime(renewed->at("eu").cert_pem), std::chrono::system_clock::now() + std::chrono::hours(24 * 500));
  EXPECT_TRUE(CertifiesName(renewed->at("eu").cert_pem, "eu.default.resnet.geostorm"));
  EXPECT_EQ(renewed->at(CertificateStore::kCaKey).cert_pem, first->at(CertificateStore::kCaKey).cert_pem);
  EXPECT_EQ(renewed->at("us").cert_pem, first->at("us").cert_pem);
  EXPECT_EQ(renewed->at(CertificateStore::kControllerKey).cert_pem,
            first->at(CertificateStore::kControllerKey).cert_pem);
  EXPECT_EQ(api.calls["apply"], 2);
  EXPECT_EQ(absl::Base64Escape(renewed->at("eu").cert_pem), SecretData(api)["eu.crt"]);  // written back
}

TEST(CertificateStore, ACorruptCaIsAnErrorNamingTheSecretAndKeyAndNothingIsReplaced) {
  kube::FakeClient api;
  CertificateStore store(api, "");
  ASSERT_TRUE(store.Ensure(Job(), Spec({"eu", "us"})).ok());
  SecretData(api)["ca.key"] = "not base64 at all!";
  const Json before = SecretData(api);

  CertificateStore restarted(api, "");
  absl::StatusOr<std::map<std::string, KeyPair>> pairs = restarted.Ensure(Job(), Spec({"eu", "us"}));
  ASSERT_FALSE(pairs.ok());
  EXPECT_EQ(pairs.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(pairs.status().message().find("default/resnet-geostorm-ca"), std::string::npos) << pairs.status();
  EXPECT_NE(pairs.status().message().find("data.ca.key"), std::string::npos) << pairs.status();
  EXPECT_EQ(SecretData(api), before);  // no new CA written over it
}

TEST(CertificateStore, CertificatesWithoutTheirCaOrKeyAreErrors) {
  kube::FakeClient api;
  CertificateStore store(api, "");
  ASSERT_TRUE(store.Ensure(Job(), Spec({"eu", "us"})).ok());
  SecretData(api).erase("eu.key");
  absl::Status missing_key = CertificateStore(api, "").Ensure(Job(), Spec({"eu", "us"})).status();
  EXPECT_NE(missing_key.message().find("data.eu.key is missing"), std::string::npos) << missing_key;

  SecretData(api).erase("eu.crt");
  SecretData(api).erase("ca.crt");
  SecretData(api).erase("ca.key");
  absl::Status no_ca = CertificateStore(api, "").Ensure(Job(), Spec({"eu", "us"})).status();
  EXPECT_EQ(no_ca.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(no_ca.message().find("no CA"), std::string::npos) << no_ca;
}

TEST(CertificateStore, AnUnreadableSecretIsTheServersError) {
  kube::FakeClient api;
  api.fail["get"] = absl::PermissionDeniedError("secrets is forbidden");
  absl::Status s = CertificateStore(api, "").Ensure(Job(), Spec({"eu", "us"})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(api.calls["apply"], 0);
}

}  // namespace
}  // namespace geostorm::controllers
