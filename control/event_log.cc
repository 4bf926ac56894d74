#include "control/event_log.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace geostorm::control {

absl::StatusOr<std::unique_ptr<EventLog>> EventLog::Open(const std::string& path, std::string dc) {
  std::ofstream out(path, std::ios::app);
  if (!out) return absl::UnavailableError(absl::StrCat("--events: cannot open '", path, "' for appending"));
  return std::unique_ptr<EventLog>(new EventLog(std::move(out), std::move(dc)));
}

void EventLog::IterationDone(uint64_t iteration, double seconds, uint64_t policy_version) {
  Write(nlohmann::json{{"event", "iteration"},
                       {"dc", dc_},
                       {"iteration", iteration},
                       {"seconds", seconds},
                       {"policy_version", policy_version}});
}

void EventLog::IterationFailed(uint64_t iteration, const std::string& error) {
  Write(nlohmann::json{{"event", "iteration_failed"}, {"dc", dc_}, {"iteration", iteration}, {"error", error}});
}

void EventLog::PolicyPrepared(uint64_t version, uint64_t from_iteration) {
  Write(nlohmann::json{
      {"event", "policy_prepared"}, {"dc", dc_}, {"version", version}, {"from_iteration", from_iteration}});
}

void EventLog::PolicyCommitted(uint64_t version, uint64_t from_iteration) {
  Write(nlohmann::json{
      {"event", "policy_committed"}, {"dc", dc_}, {"version", version}, {"from_iteration", from_iteration}});
}

void EventLog::Started(const std::map<std::string, int>& ports) {
  Write(nlohmann::json{{"event", "started"}, {"dc", dc_}, {"ports", ports}});
}

void EventLog::Write(nlohmann::json event) {
  event["time"] = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  // Error texts may carry bytes from the wire: never let them break a line.
  const std::string line = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard<std::mutex> lock(mu_);
  out_ << line << '\n';
  out_.flush();
}

}  // namespace geostorm::control
