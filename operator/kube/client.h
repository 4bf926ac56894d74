// A Kubernetes API client: typed JSON requests, list with pagination, watch with
// bookmarks, server-side apply, merge patches, and retries (backoff on 429 and 5xx,
// honouring Retry-After; Update() re-reads and retries on 409). The HTTP side
// (cpprestsdk) stays in client.cc. A Client is thread-safe.
//
//   absl::StatusOr<std::unique_ptr<Client>> client = MakeClient(config);
//   absl::StatusOr<Json> pod = (*client)->Get(kPods, "default", "worker-0");
//   (*client)->Apply(kServices, service_json);   // fieldManager=geostorm, force
//
// Errors map HTTP codes to absl codes: 404 NotFound, 409 AlreadyExists (create) or
// Aborted (conflict), 410 OutOfRange, 400/422 InvalidArgument, 401 Unauthenticated,
// 403 PermissionDenied, 429/5xx/connection Unavailable. Messages carry the server's.
#ifndef GEOSTORM_OPERATOR_KUBE_CLIENT_H_
#define GEOSTORM_OPERATOR_KUBE_CLIENT_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "operator/kube/config.h"
#include "operator/kube/resource.h"

namespace geostorm::kube {

using Json = nlohmann::json;

struct ListResult {
  std::vector<Json> items;
  std::string resource_version;  // watch from here
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark };
  Type type;
  Json object;
};

// Lets one thread end another's blocking Watch. Thread-safe.
class StopToken {
 public:
  void Stop();
  bool stopped() const;
  // Sleeps up to `timeout`, waking at Stop(). Returns stopped().
  bool Wait(std::chrono::milliseconds timeout);
  // `on_stop` runs at Stop(), or now if already stopped. Returns an id for Forget().
  int OnStop(std::function<void()> on_stop);
  void Forget(int id);

 private:
  mutable std::mutex mu_;
  std::condition_variable stopped_cv_;
  bool stopped_ = false;
  int next_id_ = 0;
  std::vector<std::pair<int, std::function<void()>>> callbacks_;
};

struct ClientOptions {
  std::chrono::milliseconds timeout{30000};     // per request (not watches)
  int max_attempts = 6;                         // for 429, 5xx and connection errors
  std::chrono::milliseconds backoff_base{100};  // doubled per attempt, capped at 5 s
  std::chrono::seconds token_refresh{60};       // re-read token_file this often
  std::string user_agent = "geostorm-operator/0.1";
};

class Client {
 public:
  virtual ~Client() = default;

  // The server, for messages ("https://10.0.0.1:6443").
  virtual const std::string& server() const = 0;
  // GET of any path, e.g. "/version": a reachability check.
  [[nodiscard]] virtual absl::StatusOr<Json> GetPath(const std::string& path) = 0;
  [[nodiscard]] virtual absl::StatusOr<Json> Get(const Resource& r, const std::string& ns, const std::string& name) = 0;
  // Every page, following `continue` tokens (`page_size` items per request).
  [[nodiscard]] virtual absl::StatusOr<ListResult> List(const Resource& r, const std::string& ns,
                                                        const std::string& label_selector, int page_size = 500) = 0;
  [[nodiscard]] virtual absl::StatusOr<Json> Create(const Resource& r, const std::string& ns, const Json& object) = 0;
  // PUT; fails with Aborted when metadata.resourceVersion is stale.
  [[nodiscard]] virtual absl::StatusOr<Json> Replace(const Resource& r, const Json& object) = 0;
  // Server-side apply of `object` (namespace and name from its metadata).
  [[nodiscard]] virtual absl::StatusOr<Json> Apply(const Resource& r, const Json& object) = 0;
  // What the server would say to Apply, with nothing stored (dryRun=All): its
  // validation and admission, nothing else.
  [[nodiscard]] virtual absl::Status DryRunApply(const Resource& r, const Json& object) = 0;
  // A JSON merge patch, on the object or (status = true) its status subresource.
  [[nodiscard]] virtual absl::StatusOr<Json> MergePatch(const Resource& r, const std::string& ns,
                                                        const std::string& name, const Json& patch,
                                                        bool status = false) = 0;
  // NotFound if it was already gone.
  [[nodiscard]] virtual absl::Status Delete(const Resource& r, const std::string& ns, const std::string& name) = 0;
  // Streams events after `resource_version` (with bookmarks) to `on_event` until the
  // server closes the stream (OK), `stop` is stopped (Cancelled), the version is too
  // old (OutOfRange: relist), or on_event returns false (OK). Events split across
  // HTTP chunks are put back together.
  [[nodiscard]] virtual absl::Status Watch(const Resource& r, const std::string& ns, const std::string& label_selector,
                                           const std::string& resource_version, std::chrono::seconds timeout,
                                           const std::function<bool(const WatchEvent&)>& on_event, StopToken* stop) = 0;
};

[[nodiscard]] absl::StatusOr<std::unique_ptr<Client>> MakeClient(const ClusterConfig& config,
                                                                 const ClientOptions& options = {});

// Read-modify-write with optimistic concurrency: GET, `mutate` (return false for
// "nothing to change"), PUT; on 409 it reads again, up to `attempts` times.
[[nodiscard]] absl::StatusOr<Json> Update(Client& client, const Resource& r, const std::string& ns,
                                          const std::string& name, const std::function<bool(Json&)>& mutate,
                                          int attempts = 5);

}  // namespace geostorm::kube

#endif  // GEOSTORM_OPERATOR_KUBE_CLIENT_H_
