// Kubeconfig parsing: contexts, inline and file credentials, and errors that name
// the field at fault.
#include "operator/kube/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/process.h"

namespace geostorm::kube {
namespace {

constexpr char kTwoContexts[] = R"(apiVersion: v1
kind: Config
current-context: a
clusters:
- name: ca
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: UEVNLUNB
- name: cb
  cluster: {server: "https://b.example:443", insecure-skip-tls-verify: true, certificate-authority: ca.pem}
contexts:
- name: a
  context: {cluster: ca, user: ua, namespace: training}
- name: b
  context: {cluster: cb, user: ub}
users:
- name: ua
  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}
- name: ub
  user: {token: abc, tokenFile: tok}
)";

TEST(Kubeconfig, CurrentContextWithInlineCertificates) {
  absl::StatusOr<ClusterConfig> config = ParseKubeconfig(kTwoContexts, "", "/etc/kube");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.0.0.1:6443");
  EXPECT_EQ(config->ca_pem, "PEM-CA");
  EXPECT_EQ(config->client_cert_pem, "CERT");
  EXPECT_EQ(config->client_key_pem, "KEY");
  EXPECT_EQ(config->namespace_, "training");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
}

TEST(Kubeconfig, NamedContextWithFilesAndToken) {
  testing::TempDir dir;
  std::ofstream(dir.path() + "/ca.pem") << "FILE-CA";
  absl::StatusOr<ClusterConfig> config = ParseKubeconfig(kTwoContexts, "b", dir.path());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->ca_pem, "FILE-CA");
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->token, "abc");
  EXPECT_EQ(config->token_file, dir.path() + "/tok");
  EXPECT_EQ(config->namespace_, "default");
}

TEST(Kubeconfig, ErrorsNameTheField) {
  auto error = [](const std::string& yaml, const std::string& context = "") {
    absl::StatusOr<ClusterConfig> config = ParseKubeconfig(yaml, context, "/nowhere");
    return config.ok() ? std::string("ok") : std::string(config.status().message());
  };
  EXPECT_NE(error(kTwoContexts, "c").find("no context named 'c'"), std::string::npos);
  EXPECT_NE(error("contexts: [{name: a, context: {cluster: x}}]\ncurrent-context: a").find("no cluster named 'x'"),
            std::string::npos);
  EXPECT_NE(
      error("clusters: [{name: x, cluster: {}}]\ncontexts: [{name: a, context: {cluster: x}}]\ncurrent-context: a")
          .find("clusters[x].server: missing"),
      std::string::npos);
  EXPECT_NE(error("clusters: [{name: x, cluster: {server: 'h:6443'}}]\n"
                  "contexts: [{name: a, context: {cluster: x}}]\ncurrent-context: a")
                .find("clusters[x].server: 'h:6443' is not an https:// URL"),
            std::string::npos);
  EXPECT_NE(error("clusters: [{name: x, cluster: {server: 'https://h', certificate-authority-data: '%%'}}]\n"
                  "contexts: [{name: a, context: {cluster: x}}]\ncurrent-context: a")
                .find("certificate-authority-data: not base64"),
            std::string::npos);
  EXPECT_NE(error("clusters: [{name: x, cluster: {server: 'https://h', certificate-authority: none.pem}}]\n"
                  "contexts: [{name: a, context: {cluster: x}}]\ncurrent-context: a")
                .find("certificate-authority: cannot read /nowhere/none.pem"),
            std::string::npos);
  EXPECT_NE(error("clusters: [unclosed").find("line 1"), std::string::npos);
  EXPECT_EQ(error("kind: Config").find("no current-context"), 0u + std::string("kubeconfig: ").size());
}

TEST(InClusterConfig, ReadsTheServiceAccount) {
  testing::TempDir root;
  std::ofstream(root.path() + "/token") << "sa-token";
  std::ofstream(root.path() + "/ca.crt") << "CLUSTER-CA";
  std::ofstream(root.path() + "/namespace") << "geostorm-system";
  unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_TRUE(absl::IsFailedPrecondition(InClusterConfig(root.path()).status()));
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  absl::StatusOr<ClusterConfig> config = InClusterConfig(root.path());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://[fd00::1]:443");
  EXPECT_EQ(config->token_file, root.path() + "/token");  // re-read by the client, not copied
  EXPECT_TRUE(config->token.empty());
  EXPECT_EQ(config->ca_pem, "CLUSTER-CA");
  EXPECT_EQ(config->namespace_, "geostorm-system");
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
}

}  // namespace
}  // namespace geostorm::kube
