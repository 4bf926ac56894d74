// FakeClient: an in-memory kube::Client for unit tests of the units that sit on
// the client seam (leader election, the certificate store). Objects are kept by
// path with a resourceVersion; Replace checks it (409 as Aborted), Create refuses
// a name in use (AlreadyExists). `fail[verb]` makes every call of that verb fail
// with the given status, as an API server refusing it (RBAC, say) would. Watch
// plays the rounds queued in `watches` (events, then how the watch ends), then
// blocks until stopped. Each call holds `mu`; a test that changes the public maps
// while another thread calls in takes it too.
#ifndef GEOSTORM_TESTS_UNIT_OPERATOR_FAKE_CLIENT_H_
#define GEOSTORM_TESTS_UNIT_OPERATOR_FAKE_CLIENT_H_

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "operator/kube/client.h"

namespace geostorm::kube {

class FakeClient final : public Client {
 public:
  std::map<std::string, Json> objects;       // by Path(ns, name)
  std::map<std::string, absl::Status> fail;  // verb -> error: "get", "create", "replace", "apply", ...
  std::map<std::string, int> calls;          // verb -> count
  struct WatchRound {
    std::vector<WatchEvent> events;
    absl::Status end;  // OK: the server closed it; OutOfRange: 410 Gone
    std::function<void(std::map<std::string, Json>& objects)> before_end;  // what changes meanwhile
  };
  std::deque<WatchRound> watches;
  std::mutex mu;

  const std::string& server() const override { return server_; }
  absl::StatusOr<Json> GetPath(const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu);
    return Verb("get_path", Json::object());
  }

  absl::StatusOr<Json> Get(const Resource& r, const std::string& ns, const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu);
    if (absl::Status s = Check("get"); !s.ok()) return s;
    auto it = objects.find(r.Path(ns, name));
    if (it == objects.end()) return absl::NotFoundError(absl::StrCat(r.plural, " \"", name, "\" not found"));
    return it->second;
  }
  absl::StatusOr<ListResult> List(const Resource& r, const std::string& ns, const std::string&, int) override {
    std::lock_guard<std::mutex> lock(mu);
    if (absl::Status s = Check("list"); !s.ok()) return s;
    ListResult out;
    const std::string prefix = r.Path(ns) + "/";
    for (const auto& [path, object] : objects) {
      if (path.rfind(prefix, 0) == 0) out.items.push_back(object);
    }
    out.resource_version = std::to_string(version_);
    return out;
  }
  absl::StatusOr<Json> Create(const Resource& r, const std::string& ns, const Json& object) override {
    std::lock_guard<std::mutex> lock(mu);
    if (absl::Status s = Check("create"); !s.ok()) return s;
    const std::string path = r.Path(ns, object["metadata"].value("name", ""));
    if (objects.count(path)) return absl::AlreadyExistsError(absl::StrCat(path, " already exists"));
    return Store(path, object);
  }
  absl::StatusOr<Json> Replace(const Resource& r, const Json& object) override {
    std::lock_guard<std::mutex> lock(mu);
    if (absl::Status s = Check("replace"); !s.ok()) return s;
    const Json& meta = object["metadata"];
    const std::string path = r.Path(meta.value("namespace", ""), meta.value("name", ""));
    auto it = objects.find(path);
    if (it == objects.end()) return absl::NotFoundError(path);
    if (it->second["metadata"].value("resourceVersion", "") != meta.value("resourceVersion", "")) {
      return absl::AbortedError(absl::StrCat(path, ": the object has been modified"));
    }
    return Store(path, object);
  }
  absl::StatusOr<Json> Apply(const Resource& r, const Json& object) override {
    std::lock_guard<std::mutex> lock(mu);
    if (absl::Status s = Check("apply"); !s.ok()) return s;
    const Json& meta = object["metadata"];
    return Store(r.Path(meta.value("namespace", ""), meta.value("name", "")), object);
  }
  absl::Status DryRunApply(const Resource&, const Json&) override {
    std::lock_guard<std::mutex> lock(mu);
    return Check("dry-run");
  }
  absl::StatusOr<Json> MergePatch(const Resource& r, const std::string& ns, const std::string& name, const Json& patch,
                                  bool) override {
    std::lock_guard<std::mutex> lock(mu);
    if (absl::Status s = Check("patch"); !s.ok()) return s;
    auto it = objects.find(r.Path(ns, name));
    if (it == objects.end()) return absl::NotFoundError(name);
    Json merged = it->second;
    merged.merge_patch(patch);
    return Store(it->first, merged);
  }
  absl::Status Delete(const Resource& r, const std::string& ns, const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu);
    if (absl::Status s = Check("delete"); !s.ok()) return s;
    return objects.erase(r.Path(ns, name)) ? absl::OkStatus() : absl::NotFoundError(name);
  }
  absl::Status Watch(const Resource&, const std::string&, const std::string&, const std::string&, std::chrono::seconds,
                     const std::function<bool(const WatchEvent&)>& on_event, StopToken* stop) override {
    WatchRound round;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (absl::Status s = Check("watch"); !s.ok()) return s;
      if (watches.empty()) round.end = absl::CancelledError("");  // nothing more to say: wait for Stop
      if (!watches.empty()) {
        round = std::move(watches.front());
        watches.pop_front();
      }
    }
    for (const WatchEvent& e : round.events) {
      if (!on_event(e)) return absl::OkStatus();
    }
    if (round.before_end) {
      std::lock_guard<std::mutex> lock(mu);
      round.before_end(objects);
    }
    if (absl::IsCancelled(round.end)) {
      while (!stop->Wait(std::chrono::milliseconds(50))) {
      }
    }
    return round.end;
  }
  // Changes the store as another client would, and returns the stored object.
  Json Put(const Resource& r, const std::string& ns, Json object) {
    std::lock_guard<std::mutex> lock(mu);
    object["metadata"]["namespace"] = ns;
    return Store(r.Path(ns, object["metadata"].value("name", "")), object);
  }

 private:
  absl::Status Check(const std::string& verb) {
    ++calls[verb];
    auto it = fail.find(verb);
    return it == fail.end() ? absl::OkStatus() : it->second;
  }
  absl::StatusOr<Json> Verb(const std::string& verb, Json answer) {
    if (absl::Status s = Check(verb); !s.ok()) return s;
    return answer;
  }
  Json Store(const std::string& path, Json object) {
    object["metadata"]["resourceVersion"] = std::to_string(++version_);
    objects[path] = object;
    return object;
  }

  std::string server_ = "https://fake";
  int64_t version_ = 0;
};

}  // namespace geostorm::kube

#endif  // GEOSTORM_TESTS_UNIT_OPERATOR_FAKE_CLIENT_H_
