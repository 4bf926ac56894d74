// The Prometheus query answer's parser, apart from the HTTP side so that it builds
// (and is fuzzed) without cpprestsdk.
#include <cmath>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "control/link_source.h"

namespace geostorm::control {

using Json = nlohmann::json;

absl::StatusOr<LinkValues> ParsePrometheusQuery(const std::string& body) {
  if (body.size() > kMaxPrometheusAnswerBytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("a Prometheus answer of ", body.size(), " bytes, over the limit of ", kMaxPrometheusAnswerBytes));
  }
  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("status") || j["status"] != "success" || !j.contains("data") ||
      !j["data"].is_object() || !j["data"].contains("result") || !j["data"]["result"].is_array()) {
    return absl::DataLossError(
        absl::StrCat("not a Prometheus query response (data.result missing): ", body.substr(0, 200)));
  }
  LinkValues values;
  for (const Json& r : j["data"]["result"]) {
    const Json* metric = r.is_object() && r.contains("metric") ? &r["metric"] : nullptr;
    const Json* value = r.is_object() && r.contains("value") ? &r["value"] : nullptr;
    if (metric == nullptr || value == nullptr || !metric->is_object() || !value->is_array() || value->size() != 2 ||
        !(*value)[1].is_string() || !metric->contains("src") || !metric->contains("dst") ||
        !(*metric)["src"].is_string() || !(*metric)["dst"].is_string()) {
      return absl::DataLossError(absl::StrCat("a series without src, dst or value: ", r.dump()));
    }
    double v = 0;
    try {
      size_t used = 0;
      const std::string text = (*value)[1].get<std::string>();
      v = std::stod(text, &used);
      if (used != text.size()) throw std::invalid_argument(text);
    } catch (const std::exception&) {
      return absl::DataLossError(absl::StrCat("a value that is not a number: ", r.dump()));
    }
    if (!std::isfinite(v)) return absl::DataLossError(absl::StrCat("a value that is not finite: ", r.dump()));
    values[{(*metric)["src"].get<std::string>(), (*metric)["dst"].get<std::string>()}] = v;
  }
  return values;
}

}  // namespace geostorm::control
