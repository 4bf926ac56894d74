#include "operator/api/conditions.h"

#include <cstdio>
#include <ctime>

namespace geostorm::api {

bool SetCondition(Json& conditions, const std::string& type, bool status, const std::string& reason,
                  const std::string& message, int64_t generation, Clock::time_point now) {
  if (!conditions.is_array()) conditions = Json::array();
  const std::string value = status ? "True" : "False";
  Json* existing = nullptr;
  for (Json& c : conditions) {
    if (c.value("type", "") == type) existing = &c;
  }
  if (existing == nullptr) {
    conditions.push_back({{"type", type}});
    existing = &conditions.back();
  }
  const bool flipped = existing->value("status", "") != value;
  if (flipped) (*existing)["lastTransitionTime"] = FormatTime(now);
  (*existing)["status"] = value;
  (*existing)["reason"] = reason;
  (*existing)["message"] = message;
  (*existing)["observedGeneration"] = generation;
  return flipped;
}

std::string ConditionStatus(const Json& conditions, const std::string& type) {
  if (!conditions.is_array()) return "";
  for (const Json& c : conditions) {
    if (c.value("type", "") == type) return c.value("status", "");
  }
  return "";
}

std::string FormatTime(Clock::time_point t) {
  const std::time_t seconds = Clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string FormatMicroTime(Clock::time_point t) {
  std::string text = FormatTime(t);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count() % 1000000;
  char fraction[16];
  std::snprintf(fraction, sizeof(fraction), ".%06lldZ", static_cast<long long>(micros));
  return text.substr(0, text.size() - 1) + fraction;
}

std::optional<Clock::time_point> ParseTime(const std::string& text) {
  std::tm utc{};
  int micros = 0;
  char fraction[16] = {0};
  const int read = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%15s", &utc.tm_year, &utc.tm_mon, &utc.tm_mday,
                               &utc.tm_hour, &utc.tm_min, &utc.tm_sec, fraction);
  if (read < 6) return std::nullopt;
  if (fraction[0] == '.') {
    std::string digits;
    for (const char* p = fraction + 1; *p >= '0' && *p <= '9'; ++p) digits += *p;
    digits.resize(6, '0');
    micros = std::stoi(digits);
  }
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  return Clock::from_time_t(timegm(&utc)) + std::chrono::microseconds(micros);
}

std::pair<std::string, std::string> Why(const Json& conditions) {
  for (const auto& [type, status] : {std::pair<const char*, const char*>{"Failed", "True"},
                                     {"ClustersReady", "False"},
                                     {"TopologyReady", "False"}}) {
    if (!conditions.is_array()) break;
    for (const Json& c : conditions) {
      if (c.value("type", "") == type && c.value("status", "") == status) {
        return {c.value("reason", ""), c.value("message", "")};
      }
    }
  }
  return {"", ""};
}

}  // namespace geostorm::api
