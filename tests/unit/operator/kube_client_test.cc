// The Kubernetes client against the API emulator: requests, pagination, watch
// events split across chunks, 410 relist, 409 retry, backoff, token re-read.
#include "operator/kube/client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"

#include "operator/controllers/certificates.h"
#include "operator/kube/informer.h"
#include "tests/support/kube_emulator.h"

namespace geostorm::kube {
namespace {

using testing::KubeEmulator;

ClusterConfig ConfigFor(const KubeEmulator& emulator) {
  ClusterConfig config;
  config.server = emulator.url();
  return config;
}

Json ConfigMap(const std::string& name, const std::string& value = "1") {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"app", "demo"}}}}},
          {"data", {{"v", value}}}};
}

int Requests(Client& client, const std::string& key) {
  absl::StatusOr<Json> stats = client.GetPath("/debug/stats");
  return stats.ok() ? (*stats)["requests"].value(key, 0) : -1;
}

template <typename Predicate>
bool Eventually(Predicate done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

TEST(KubeClient, CreateGetReplaceDeleteWithConflicts) {
  KubeEmulator emulator;
  auto client = MakeClient(ConfigFor(emulator));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<Json> created = (*client)->Create(kConfigMaps, "default", ConfigMap("a"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(absl::IsAlreadyExists((*client)->Create(kConfigMaps, "default", ConfigMap("a")).status()));

  Json stale = *created;
  Json fresh = *created;
  fresh["data"]["v"] = "2";
  ASSERT_TRUE((*client)->Replace(kConfigMaps, fresh).ok());
  stale["data"]["v"] = "3";
  absl::Status conflict = (*client)->Replace(kConfigMaps, stale).status();
  EXPECT_TRUE(absl::IsAborted(conflict)) << conflict;
  EXPECT_NE(conflict.message().find("the object has been modified"), std::string::npos) << conflict;

  EXPECT_TRUE(absl::IsNotFound((*client)->Get(kConfigMaps, "default", "missing").status()));
  EXPECT_TRUE(absl::IsNotFound((*client)->Create(kConfigMaps, "nowhere", ConfigMap("b")).status()));
  ASSERT_TRUE((*client)->Delete(kConfigMaps, "default", "a").ok());
  EXPECT_TRUE(absl::IsNotFound((*client)->Delete(kConfigMaps, "default", "a")));
}

TEST(KubeClient, UpdateRereadsAndRetriesOnConflict) {
  KubeEmulator emulator;
  auto client = *MakeClient(ConfigFor(emulator));
  ASSERT_TRUE(client->Create(kConfigMaps, "default", ConfigMap("a", "0")).ok());
  // The next two PUTs answer 409, as if another writer had got there first.
  ASSERT_TRUE(client->GetPath("/debug/fail?code=409&count=2&method=PUT").ok());
  int calls = 0;
  absl::StatusOr<Json> updated = Update(*client, kConfigMaps, "default", "a", [&](Json& cm) {
    ++calls;
    cm["data"]["v"] = "7";
    return true;
  });
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(calls, 3);
  EXPECT_EQ((*client->Get(kConfigMaps, "default", "a"))["data"]["v"], "7");
  EXPECT_EQ(Requests(*client, "GET /api/v1/namespaces/default/configmaps/a"), 4);
}

TEST(KubeClient, BacksOffOn5xxAnd429ThenSucceeds) {
  KubeEmulator emulator;
  ClientOptions options;
  options.backoff_base = std::chrono::milliseconds(10);
  auto client = *MakeClient(ConfigFor(emulator), options);
  ASSERT_TRUE(client->Create(kConfigMaps, "default", ConfigMap("a")).ok());
  ASSERT_TRUE(
      client->GetPath("/debug/fail?code=503&count=2&method=GET&path=/api/v1/namespaces/default/configmaps/a").ok());
  ASSERT_TRUE(client->Get(kConfigMaps, "default", "a").ok());
  ASSERT_TRUE(
      client->GetPath("/debug/fail?code=429&count=1&method=GET&path=/api/v1/namespaces/default/configmaps/a").ok());
  ASSERT_TRUE(client->Get(kConfigMaps, "default", "a").ok());
  // Injected failures are answered before counting; only the successes are counted.
  EXPECT_EQ(Requests(*client, "GET /api/v1/namespaces/default/configmaps/a"), 2);
  // A write is retried the same way, and counted once.
  ASSERT_TRUE(
      client->GetPath("/debug/fail?code=500&count=2&method=PATCH&path=/api/v1/namespaces/default/configmaps/a").ok());
  absl::StatusOr<Json> patched =
      client->MergePatch(kConfigMaps, "default", "a", Json::parse(R"({"data": {"k": "patched"}})"));
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*client->Get(kConfigMaps, "default", "a"))["data"]["k"], "patched");
  EXPECT_EQ(Requests(*client, "PATCH /api/v1/namespaces/default/configmaps/a"), 1);

  options.max_attempts = 3;
  auto impatient = *MakeClient(ConfigFor(emulator), options);
  ASSERT_TRUE(
      client->GetPath("/debug/fail?code=500&count=5&method=GET&path=/api/v1/namespaces/default/configmaps/a").ok());
  absl::Status failed = impatient->Get(kConfigMaps, "default", "a").status();
  EXPECT_TRUE(absl::IsUnavailable(failed)) << failed;
  EXPECT_NE(failed.message().find("HTTP 500"), std::string::npos) << failed;
}

// The status line of each response to `requests`, sent one after another on one
// kept-alive connection to 127.0.0.1:port.
std::vector<std::string> StatusLines(int port, const std::vector<std::string>& requests) {
  std::vector<std::string> lines;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return lines;
  }
  const timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string in;
  for (const std::string& request : requests) {
    if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) break;
    size_t end = std::string::npos;
    char buffer[4096];
    for (;;) {
      end = in.find("\r\n\r\n");
      if (end != std::string::npos) {
        const size_t length_at = in.find("Content-Length: ");
        const size_t length = length_at < end ? std::stoul(in.substr(length_at + 16)) : 0;
        if (in.size() >= end + 4 + length) {
          lines.push_back(in.substr(0, in.find("\r\n")));
          in.erase(0, end + 4 + length);
          break;
        }
      }
      const ssize_t n = read(fd, buffer, sizeof(buffer));
      if (n <= 0) {
        close(fd);
        return lines;
      }
      in.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  return lines;
}

// A request the emulator refuses before reading it (an injected failure) leaves
// the connection in step, as an API server does: its body is not taken for the
// start of the next request.
TEST(KubeClient, TheEmulatorKeepsAConnectionInStepAfterARefusedWrite) {
  KubeEmulator emulator;
  auto client = *MakeClient(ConfigFor(emulator));
  ASSERT_TRUE(client->Create(kConfigMaps, "default", ConfigMap("a")).ok());
  ASSERT_TRUE(
      client->GetPath("/debug/fail?code=500&count=1&method=PATCH&path=/api/v1/namespaces/default/configmaps/a").ok());
  const std::string body = R"({"data": {"k": "x"}})";
  const std::string patch =
      absl::StrCat("PATCH /api/v1/namespaces/default/configmaps/a HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                   "Content-Type: application/merge-patch+json\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
  const int port = std::stoi(emulator.url().substr(emulator.url().rfind(':') + 1));
  EXPECT_EQ(StatusLines(port, {patch, patch}),
            (std::vector<std::string>{"HTTP/1.1 500 Internal Server Error", "HTTP/1.1 200 OK"}));
}

TEST(KubeClient, ListFollowsContinueTokens) {
  KubeEmulator emulator;
  auto client = *MakeClient(ConfigFor(emulator));
  for (int i = 0; i < 7; ++i)
    ASSERT_TRUE(client->Create(kConfigMaps, "default", ConfigMap("cm" + std::to_string(i))).ok());
  Json other = ConfigMap("other");
  other["metadata"]["labels"]["app"] = "else";
  ASSERT_TRUE(client->Create(kConfigMaps, "default", other).ok());
  absl::StatusOr<ListResult> listed = client->List(kConfigMaps, "default", "app=demo", 3);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->items.size(), 7u);
  EXPECT_EQ(listed->items[6]["metadata"]["name"], "cm6");
  EXPECT_EQ(listed->items[0]["kind"], "ConfigMap");
  EXPECT_FALSE(listed->resource_version.empty());
  EXPECT_EQ(Requests(*client, "GET /api/v1/namespaces/default/configmaps"), 3);
}

TEST(KubeClient, ServerSideApplyAndStatusMergePatch) {
  KubeEmulator emulator;
  auto client = *MakeClient(ConfigFor(emulator));
  const Resource services = kServices;
  Json svc = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", "gw"}, {"namespace", "default"}}},
              {"spec", {{"type", "ClusterIP"}, {"ports", {{{"port", 7070}}}}}}};
  absl::StatusOr<Json> first = client->Apply(services, svc);
  ASSERT_TRUE(first.ok()) << first.status();
  svc["spec"]["ports"][0]["port"] = 7071;
  absl::StatusOr<Json> second = client->Apply(services, svc);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)["spec"]["ports"][0]["port"], 7071);
  EXPECT_EQ((*second)["metadata"]["uid"], (*first)["metadata"]["uid"]);
  absl::StatusOr<Json> patched = client->MergePatch(
      services, "default", "gw", {{"status", {{"loadBalancer", {{"ingress", Json::array()}}}}}}, true);
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_TRUE((*patched)["status"].contains("loadBalancer"));
  EXPECT_EQ(Requests(*client, "PATCH /api/v1/namespaces/default/services/gw"), 2);
}

TEST(KubeClient, WatchReassemblesEventsSplitAcrossChunks) {
  KubeEmulator emulator({"--split-events", "--bookmark-s", "0.2"});
  auto client = *MakeClient(ConfigFor(emulator));
  absl::StatusOr<ListResult> start = client->List(kConfigMaps, "default", "");
  ASSERT_TRUE(start.ok());
  std::thread writer([&] {
    for (int i = 0; i < 5; ++i)
      (void)client->Create(kConfigMaps, "default", ConfigMap("w" + std::to_string(i), std::string(3000, 'x')));
    (void)client->Delete(kConfigMaps, "default", "w0");
  });
  std::vector<WatchEvent> events;
  int bookmarks = 0;
  StopToken stop;
  absl::Status watched = client->Watch(
      kConfigMaps, "default", "", start->resource_version, std::chrono::seconds(20),
      [&](const WatchEvent& e) {
        if (e.type == WatchEvent::Type::kBookmark) {
          ++bookmarks;
        } else {
          events.push_back(e);
        }
        return events.size() < 6 || bookmarks == 0;
      },
      &stop);
  writer.join();
  ASSERT_TRUE(watched.ok()) << watched;
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[4].object["metadata"]["name"], "w4");
  EXPECT_EQ(events[4].object["data"]["v"].get<std::string>().size(), 3000u);
  EXPECT_EQ(events[5].type, WatchEvent::Type::kDeleted);
  EXPECT_GE(bookmarks, 1);
}

TEST(KubeClient, WatchFromACompactedVersionIsOutOfRangeAndStopEndsIt) {
  KubeEmulator emulator;
  auto client = *MakeClient(ConfigFor(emulator));
  const std::string old = client->List(kConfigMaps, "default", "")->resource_version;
  ASSERT_TRUE(client->Create(kConfigMaps, "default", ConfigMap("a")).ok());
  ASSERT_TRUE(client->GetPath("/debug/compact").ok());
  StopToken stop;
  absl::Status gone = client->Watch(
      kConfigMaps, "default", "", old, std::chrono::seconds(5), [](const WatchEvent&) { return true; }, &stop);
  EXPECT_TRUE(absl::IsOutOfRange(gone)) << gone;

  const std::string now = client->List(kConfigMaps, "default", "")->resource_version;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop.Stop();
  });
  absl::Status stopped = client->Watch(
      kConfigMaps, "default", "", now, std::chrono::seconds(60), [](const WatchEvent&) { return true; }, &stop);
  stopper.join();
  EXPECT_TRUE(absl::IsCancelled(stopped)) << stopped;
}

TEST(KubeInformer, RelistsAfter410AndKeepsTheCacheTrue) {
  KubeEmulator emulator({"--bookmark-s", "100"});
  auto client = *MakeClient(ConfigFor(emulator));
  ASSERT_TRUE(client->Create(kConfigMaps, "default", ConfigMap("before")).ok());
  InformerOptions options;
  options.watch_timeout = std::chrono::seconds(1);
  Informer informer(*client, kConfigMaps, "default", "app=demo", options);
  std::atomic<int> deletions{0};
  informer.AddHandler([&](const Json&, bool deleted) { deletions += deleted ? 1 : 0; });
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(5)));
  ASSERT_TRUE(informer.Get("default", "before").has_value());

  // Another resource moves the version on; compaction then leaves the informer's
  // version too old, so its next watch gets 410 and it must list again.
  ASSERT_TRUE(client->Create(kServices, "default", {{"metadata", {{"name", "s"}}}, {"spec", Json::object()}}).ok());
  ASSERT_TRUE(client->GetPath("/debug/compact").ok());
  ASSERT_TRUE(Eventually([&] { return informer.lists() >= 2; })) << emulator.Log();
  ASSERT_TRUE(client->Delete(kConfigMaps, "default", "before").ok());
  ASSERT_TRUE(client->Create(kConfigMaps, "default", ConfigMap("after")).ok());
  ASSERT_TRUE(Eventually([&] { return informer.Get("default", "after").has_value(); }));
  EXPECT_FALSE(informer.Get("default", "before").has_value());
  EXPECT_EQ(deletions, 1);
}

// TLS to the API server: verified against the kubeconfig's CA (and its name), not
// the system's; skipped only when asked; client certificates when the server wants them.
TEST(KubeClient, VerifiesTheServerAndPresentsAClientCertificate) {
  testing::TempDir dir;
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir.path() + "/" + name) << text;
    return dir.path() + "/" + name;
  };
  absl::StatusOr<controllers::KeyPair> ca = controllers::MakeCertificateAuthority("cluster ca");
  absl::StatusOr<controllers::KeyPair> server = controllers::MakeCertificate(*ca, "apiserver", {"localhost"});
  absl::StatusOr<controllers::KeyPair> user = controllers::MakeCertificate(*ca, "geostorm-operator", {});
  absl::StatusOr<controllers::KeyPair> stranger_ca = controllers::MakeCertificateAuthority("another ca");
  ASSERT_TRUE(ca.ok() && server.ok() && user.ok() && stranger_ca.ok());
  KubeEmulator emulator({"--tls-cert", write("server.crt", server->cert_pem), "--tls-key",
                         write("server.key", server->key_pem), "--tls-client-ca", write("ca.crt", ca->cert_pem)});
  ClusterConfig config;
  config.server = "https://localhost:" + std::to_string(emulator.port());
  config.ca_pem = ca->cert_pem;
  config.client_cert_pem = user->cert_pem;
  config.client_key_pem = user->key_pem;
  ClientOptions options;
  options.max_attempts = 1;
  absl::StatusOr<Json> version = (*MakeClient(config, options))->GetPath("/version");
  ASSERT_TRUE(version.ok()) << version.status() << emulator.Log();
  EXPECT_EQ((*version)["major"], "1");

  ClusterConfig untrusted = config;
  untrusted.ca_pem = stranger_ca->cert_pem;
  EXPECT_FALSE((*MakeClient(untrusted, options))->GetPath("/version").ok());
  ClusterConfig wrong_name = config;
  wrong_name.server = "https://127.0.0.1:" + std::to_string(emulator.port());  // the certificate names localhost
  EXPECT_FALSE((*MakeClient(wrong_name, options))->GetPath("/version").ok());
  wrong_name.insecure_skip_tls_verify = true;  // kubeconfig's insecure-skip-tls-verify
  EXPECT_TRUE((*MakeClient(wrong_name, options))->GetPath("/version").ok());
  ClusterConfig anonymous = config;
  anonymous.client_cert_pem.clear();
  anonymous.client_key_pem.clear();
  EXPECT_FALSE((*MakeClient(anonymous, options))->GetPath("/version").ok());
}

TEST(KubeClient, RereadsARotatedTokenFile) {
  testing::TempDir dir;
  const std::string server_token = dir.path() + "/server-token";
  const std::string client_token = dir.path() + "/client-token";
  auto write = [](const std::string& path, const std::string& token) { std::ofstream(path) << token << "\n"; };
  write(server_token, "first");
  write(client_token, "first");
  KubeEmulator emulator({"--token-file", server_token});
  ClusterConfig config = ConfigFor(emulator);
  config.token_file = client_token;
  auto client = *MakeClient(config);
  ASSERT_TRUE(client->GetPath("/api").ok());

  write(server_token, "second");  // rotated: the old token is refused now
  write(client_token, "second");
  absl::StatusOr<Json> after = client->GetPath("/api");
  EXPECT_TRUE(after.ok()) << after.status();

  write(server_token, "third");  // the client's file is stale: a clear refusal
  absl::Status refused = client->GetPath("/api").status();
  EXPECT_TRUE(absl::IsUnauthenticated(refused)) << refused;
}

}  // namespace
}  // namespace geostorm::kube
