#include "operator/kube/config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace geostorm::kube {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return absl::StrCat(base_dir, "/", path);
}

// A PEM given either as base64 `<field>-data` or as a file `<field>`.
absl::Status ReadPem(const YAML::Node& node, const std::string& field, const std::string& where,
                     const std::string& base_dir, std::string* out) {
  if (const YAML::Node data = node[field + "-data"]) {
    if (!absl::Base64Unescape(data.as<std::string>(), out)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".", field, "-data: not base64"));
    }
    return absl::OkStatus();
  }
  if (const YAML::Node file = node[field]) {
    absl::StatusOr<std::string> text = ReadFile(Resolve(file.as<std::string>(), base_dir));
    if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ".", field, ": ", text.status().message()));
    *out = *std::move(text);
  }
  return absl::OkStatus();
}

YAML::Node Named(const YAML::Node& list, const std::string& name) {
  if (!list || !list.IsSequence()) return {};
  for (const YAML::Node& entry : list) {
    if (entry["name"] && entry["name"].as<std::string>() == name) return entry;
  }
  return {};
}

absl::StatusOr<ClusterConfig> FromYaml(const YAML::Node& root, std::string context, const std::string& base_dir) {
  if (context.empty()) {
    if (!root["current-context"]) return absl::InvalidArgumentError("kubeconfig: no current-context and none chosen");
    context = root["current-context"].as<std::string>();
  }
  const YAML::Node ctx = Named(root["contexts"], context)["context"];
  if (!ctx) return absl::InvalidArgumentError(absl::StrCat("kubeconfig: contexts: no context named '", context, "'"));
  ClusterConfig config;
  if (ctx["namespace"]) config.namespace_ = ctx["namespace"].as<std::string>();
  const std::string cluster_name = ctx["cluster"] ? ctx["cluster"].as<std::string>() : "";
  const YAML::Node cluster = Named(root["clusters"], cluster_name)["cluster"];
  if (!cluster) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig: clusters: no cluster named '", cluster_name, "'"));
  }
  const std::string where = absl::StrCat("kubeconfig: clusters[", cluster_name, "]");
  if (!cluster["server"]) return absl::InvalidArgumentError(absl::StrCat(where, ".server: missing"));
  config.server = cluster["server"].as<std::string>();
  while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".server: '", config.server, "' is not an https:// URL"));
  }
  if (cluster["insecure-skip-tls-verify"])
    config.insecure_skip_tls_verify = cluster["insecure-skip-tls-verify"].as<bool>();
  RETURN_IF_ERROR(ReadPem(cluster, "certificate-authority", where, base_dir, &config.ca_pem));

  if (ctx["user"]) {
    const std::string user_name = ctx["user"].as<std::string>();
    const YAML::Node user = Named(root["users"], user_name)["user"];
    if (!user) return absl::InvalidArgumentError(absl::StrCat("kubeconfig: users: no user named '", user_name, "'"));
    const std::string user_where = absl::StrCat("kubeconfig: users[", user_name, "]");
    if (absl::Status s = ReadPem(user, "client-certificate", user_where, base_dir, &config.client_cert_pem); !s.ok()) {
      return s;
    }
    RETURN_IF_ERROR(ReadPem(user, "client-key", user_where, base_dir, &config.client_key_pem));
    if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(user_where, ": a client certificate needs its key, and back"));
    }
    if (user["token"]) config.token = user["token"].as<std::string>();
    if (user["tokenFile"]) config.token_file = Resolve(user["tokenFile"].as<std::string>(), base_dir);
    if (user["exec"] || user["auth-provider"]) {
      return absl::UnimplementedError(absl::StrCat(user_where, ": exec and auth-provider plugins are not supported"));
    }
  }
  return config;
}

}  // namespace

absl::StatusOr<ClusterConfig> ParseKubeconfig(const std::string& yaml, const std::string& context,
                                              const std::string& base_dir) {
  try {
    return FromYaml(YAML::Load(yaml), context, base_dir);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig: line ", e.mark.line + 1, ": ", e.msg));
  }
}

absl::StatusOr<ClusterConfig> LoadKubeconfig(const std::string& path, const std::string& context) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  const size_t slash = path.rfind('/');
  absl::StatusOr<ClusterConfig> config =
      ParseKubeconfig(*text, context, slash == std::string::npos ? "." : path.substr(0, slash));
  if (!config.ok()) return absl::Status(config.status().code(), absl::StrCat(path, ": ", config.status().message()));
  return config;
}

absl::StatusOr<ClusterConfig> InClusterConfig(const std::string& root) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr) {
    return absl::FailedPreconditionError("in-cluster: KUBERNETES_SERVICE_HOST/PORT are not set (not in a pod?)");
  }
  ClusterConfig config;
  const std::string h = host;
  config.server = absl::StrCat("https://", h.find(':') == std::string::npos ? h : absl::StrCat("[", h, "]"), ":", port);
  config.token_file = root + "/token";
  absl::StatusOr<std::string> ca = ReadFile(root + "/ca.crt");
  if (!ca.ok()) return absl::FailedPreconditionError(absl::StrCat("in-cluster: ", ca.status().message()));
  config.ca_pem = *std::move(ca);
  if (absl::StatusOr<std::string> ns = ReadFile(root + "/namespace"); ns.ok()) config.namespace_ = *ns;
  return config;
}

}  // namespace geostorm::kube
