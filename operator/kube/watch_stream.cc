#include "operator/kube/watch_stream.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "operator/kube/api_status.h"

namespace geostorm::kube {

absl::Status WatchStream::Feed(std::string_view bytes) {
  while (wants_more_) {
    const size_t newline = bytes.find('\n');
    pending_.append(bytes.substr(0, newline));
    if (pending_.size() > max_event_bytes_) {
      ended_ = absl::DataLossError(
          absl::StrCat(what_, ": a watch event longer than ", max_event_bytes_, " bytes: ", pending_.substr(0, 200)));
    } else if (newline == std::string_view::npos) {
      break;
    } else {
      bytes.remove_prefix(newline + 1);
      const std::string line = std::move(pending_);
      pending_.clear();
      if (!line.empty()) ended_ = Deliver(line);
    }
    if (!ended_.ok()) wants_more_ = false;
  }
  return ended_;
}

absl::Status WatchStream::Deliver(const std::string& line) {
  Json event = Json::parse(line, nullptr, false);
  if (!event.is_object()) {
    return absl::DataLossError(absl::StrCat(what_, ": a watch event is not a JSON object: ", line.substr(0, 200)));
  }
  const Json* type = event.contains("type") ? &event["type"] : nullptr;
  const std::string name = type != nullptr && type->is_string() ? type->get<std::string>() : "";
  Json object = event.contains("object") ? std::move(event["object"]) : Json();
  if (name == "ERROR") {  // a metav1.Status
    const bool has_code = object.is_object() && object.contains("code") && object["code"].is_number_integer();
    const bool has_message = object.is_object() && object.contains("message") && object["message"].is_string();
    return StatusFor(has_code ? object["code"].get<int>() : 500,
                     has_message ? object["message"].get<std::string>() : "watch error", what_);
  }
  static const std::map<std::string, WatchEvent::Type> kTypes = {{"ADDED", WatchEvent::Type::kAdded},
                                                                 {"MODIFIED", WatchEvent::Type::kModified},
                                                                 {"DELETED", WatchEvent::Type::kDeleted},
                                                                 {"BOOKMARK", WatchEvent::Type::kBookmark}};
  auto it = kTypes.find(name);
  if (it == kTypes.end()) {
    return absl::DataLossError(absl::StrCat(what_, ": unknown watch event type in ", line.substr(0, 200)));
  }
  if (!object.is_object()) {
    return absl::DataLossError(absl::StrCat(what_, ": ", name, " event without an object: ", line.substr(0, 200)));
  }
  wants_more_ = on_event_(WatchEvent{it->second, std::move(object)});
  return absl::OkStatus();
}

}  // namespace geostorm::kube
