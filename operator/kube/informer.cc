#include "operator/kube/informer.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"

namespace geostorm::kube {
namespace {

std::string KeyOf(const Json& object) {
  const Json& meta = object["metadata"];
  return absl::StrCat(meta.value("namespace", ""), "/", meta.value("name", ""));
}

}  // namespace

Informer::Informer(Client& client, Resource resource, std::string ns, std::string label_selector,
                   InformerOptions options)
    : client_(client),
      resource_(std::move(resource)),
      namespace_(std::move(ns)),
      label_selector_(std::move(label_selector)),
      options_(options) {}

Informer::~Informer() { Stop(); }

void Informer::AddHandler(Handler handler) { handlers_.push_back(std::move(handler)); }

void Informer::SetIndex(IndexFn index) { index_fn_ = std::move(index); }

void Informer::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Informer::Stop() {
  stop_.Stop();
  if (thread_.joinable()) thread_.join();
}

bool Informer::WaitForSync(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return synced_cv_.wait_for(lock, timeout, [this] { return synced_.load(); });
}

std::optional<Json> Informer::Get(const std::string& ns, const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(absl::StrCat(ns, "/", name));
  if (it == cache_.end()) return std::nullopt;
  return it->second;
}

std::vector<Json> Informer::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Json> out;
  out.reserve(cache_.size());
  for (const auto& [key, object] : cache_) out.push_back(object);
  return out;
}

std::vector<Json> Informer::ByIndex(const std::string& value) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Json> out;
  auto it = index_.find(value);
  if (it == index_.end()) return out;
  for (const std::string& key : it->second) out.push_back(cache_.at(key));
  return out;
}

void Informer::Apply(const Json& object, bool deleted) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string key = KeyOf(object);
    auto old = cache_.find(key);
    if (index_fn_ && old != cache_.end()) {
      if (std::optional<std::string> value = index_fn_(old->second)) {
        index_[*value].erase(key);
        if (index_[*value].empty()) index_.erase(*value);
      }
    }
    if (deleted) {
      cache_.erase(key);
    } else {
      cache_[key] = object;
      if (index_fn_) {
        if (std::optional<std::string> value = index_fn_(object)) index_[*value].insert(key);
      }
    }
  }
  for (const Handler& handler : handlers_) handler(object, deleted);
}

absl::Status Informer::Relist(std::string* resource_version) {
  absl::StatusOr<ListResult> listed = client_.List(resource_, namespace_, label_selector_);
  if (!listed.ok()) return listed.status();
  ++lists_;
  std::map<std::string, Json> fresh;
  for (Json& item : listed->items) {
    const std::string key = KeyOf(item);
    fresh[key] = std::move(item);
  }
  std::vector<Json> gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, object] : cache_) {
      if (fresh.count(key) == 0) gone.push_back(object);
    }
  }
  for (const Json& object : gone) Apply(object, true);
  for (const auto& [key, object] : fresh) {
    std::optional<Json> old = Get(object["metadata"].value("namespace", ""), object["metadata"].value("name", ""));
    if (!old || (*old)["metadata"]["resourceVersion"] != object["metadata"]["resourceVersion"]) Apply(object, false);
  }
  *resource_version = listed->resource_version;
  if (!synced_) {
    std::lock_guard<std::mutex> lock(mu_);
    synced_ = true;
    synced_cv_.notify_all();
  }
  return absl::OkStatus();
}

void Informer::Run() {
  const std::string what = absl::StrCat(resource_.plural, " at ", client_.server());
  std::string version;
  bool need_list = true;
  while (!stop_.stopped()) {
    if (need_list) {
      if (absl::Status listed = Relist(&version); !listed.ok()) {
        spdlog::warn("informer {}: list failed: {}", what, std::string(listed.message()));
        stop_.Wait(options_.retry_delay);
        continue;
      }
      need_list = false;
    }
    absl::Status watched = client_.Watch(
        resource_, namespace_, label_selector_, version, options_.watch_timeout,
        [&](const WatchEvent& event) {
          version = event.object["metadata"].value("resourceVersion", version);
          if (event.type != WatchEvent::Type::kBookmark) Apply(event.object, event.type == WatchEvent::Type::kDeleted);
          return true;
        },
        &stop_);
    if (watched.ok() || absl::IsCancelled(watched)) continue;  // the server closed the watch: resume from `version`
    if (absl::IsOutOfRange(watched)) {
      spdlog::info("informer {}: resourceVersion {} expired; listing again", what, version);
    } else {
      spdlog::warn("informer {}: watch failed: {}", what, std::string(watched.message()));
      stop_.Wait(options_.retry_delay);
    }
    need_list = true;
  }
}

}  // namespace geostorm::kube
