// metav1.Condition lists and RFC 3339 times, as status subresources carry them.
// Pure; thread-safe.
#ifndef GEOSTORM_OPERATOR_API_CONDITIONS_H_
#define GEOSTORM_OPERATOR_API_CONDITIONS_H_

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

namespace geostorm::api {

using Json = nlohmann::json;
using Clock = std::chrono::system_clock;

// Sets condition `type` in the array `conditions`, keeping its lastTransitionTime
// unless the status flips. Returns true when the status flipped (or is new).
bool SetCondition(Json& conditions, const std::string& type, bool status, const std::string& reason,
                  const std::string& message, int64_t generation, Clock::time_point now);
// The condition's status ("True"/"False"), or "" if absent.
std::string ConditionStatus(const Json& conditions, const std::string& type);
// Why a job is not simply running, for `kubectl get`: the reason and message of a
// Failed condition that is True, else of a ClustersReady or else a TopologyReady
// that is False; empty strings when none is.
std::pair<std::string, std::string> Why(const Json& conditions);

std::string FormatTime(Clock::time_point t);       // 2026-11-22T11:31:25Z
std::string FormatMicroTime(Clock::time_point t);  // 2026-11-22T11:31:25.123456Z
std::optional<Clock::time_point> ParseTime(const std::string& text);

}  // namespace geostorm::api

#endif  // GEOSTORM_OPERATOR_API_CONDITIONS_H_
