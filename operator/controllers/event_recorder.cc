#include "operator/controllers/event_recorder.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "operator/api/conditions.h"

namespace geostorm::controllers {

void EventRecorder::Record(const kube::Json& object, const std::string& type, const std::string& reason,
                           const std::string& message) {
  static std::atomic<uint64_t> sequence{0};
  const kube::Json& meta = object["metadata"];
  const std::string ns = meta.value("namespace", "default");
  const auto now = api::Clock::now();
  char suffix[24];
  std::snprintf(suffix, sizeof(suffix), "%llx",
                static_cast<unsigned long long>(now.time_since_epoch().count()) + sequence.fetch_add(1));
  const kube::Json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"name", absl::StrCat(meta.value("name", "object"), ".", suffix)}, {"namespace", ns}}},
      {"involvedObject",
       {{"apiVersion", object.value("apiVersion", "")},
        {"kind", object.value("kind", "")},
        {"name", meta.value("name", "")},
        {"namespace", ns},
        {"uid", meta.value("uid", "")},
        {"resourceVersion", meta.value("resourceVersion", "")}}},
      {"reason", reason},
      {"message", message},
      {"type", type},
      {"count", 1},
      {"firstTimestamp", api::FormatTime(now)},
      {"lastTimestamp", api::FormatTime(now)},
      {"source", {{"component", "geostorm-operator"}}},
      {"reportingComponent", "geostorm-operator"}};
  if (absl::StatusOr<kube::Json> posted = host_.Create(kube::kEvents, ns, event); !posted.ok()) {
    spdlog::warn("event {} for {}/{} not recorded: {}", reason, ns, meta.value("name", ""),
                 std::string(posted.status().message()));
  }
}

}  // namespace geostorm::controllers
