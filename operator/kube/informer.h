// An informer: a local cache of one resource type (in one namespace, or all, and
// optionally under a label selector) kept in step with the API server. It lists,
// then watches from the list's resourceVersion with bookmarks; on 410 Gone it lists
// again, and after an error it backs off and lists again. A relist that finds an
// object gone reports it as deleted. Handlers run on the informer's own thread, so
// they should only enqueue work. Get/List are thread-safe.
//
//   Informer pods(client, kPods, "", "app.kubernetes.io/managed-by=geostorm");
//   pods.AddHandler([&](const Json& pod, bool deleted) { queue.Add(JobOf(pod)); });
//   pods.Start();
//   pods.WaitForSync(std::chrono::seconds(10));
#ifndef GEOSTORM_OPERATOR_KUBE_INFORMER_H_
#define GEOSTORM_OPERATOR_KUBE_INFORMER_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "operator/kube/client.h"

namespace geostorm::kube {

struct InformerOptions {
  std::chrono::seconds watch_timeout{300};     // the server ends each watch after this
  std::chrono::milliseconds retry_delay{500};  // after an error, before listing again
};

class Informer {
 public:
  using Handler = std::function<void(const Json& object, bool deleted)>;
  // An index: the value an object is filed under (nullopt: not indexed).
  using IndexFn = std::function<std::optional<std::string>(const Json& object)>;

  Informer(Client& client, Resource resource, std::string ns, std::string label_selector, InformerOptions options = {});
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void AddHandler(Handler handler);  // before Start()
  void SetIndex(IndexFn index);      // before Start()
  void Start();
  void Stop();
  // True once the first list has filled the cache.
  bool WaitForSync(std::chrono::milliseconds timeout);
  bool synced() const { return synced_; }

  std::optional<Json> Get(const std::string& ns, const std::string& name) const;
  std::vector<Json> List() const;
  // The objects filed under `value` by the index.
  std::vector<Json> ByIndex(const std::string& value) const;
  int lists() const { return lists_; }  // how many times it has listed (1 + relists)

 private:
  void Run();
  absl::Status Relist(std::string* resource_version);
  void Apply(const Json& object, bool deleted);

  Client& client_;
  const Resource resource_;
  const std::string namespace_;
  const std::string label_selector_;
  const InformerOptions options_;
  std::vector<Handler> handlers_;

  mutable std::mutex mu_;
  std::condition_variable synced_cv_;
  std::map<std::string, Json> cache_;  // "ns/name" -> object
  IndexFn index_fn_;
  std::map<std::string, std::set<std::string>> index_;  // value -> "ns/name"
  std::atomic<bool> synced_{false};
  std::atomic<int> lists_{0};
  StopToken stop_;
  std::thread thread_;
};

}  // namespace geostorm::kube

#endif  // GEOSTORM_OPERATOR_KUBE_INFORMER_H_
