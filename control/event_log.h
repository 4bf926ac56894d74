// EventLog: what a sidecar or the controller did, as a file of JSON lines that programs read
// (`geostorm local`, the tests, the benchmarks); the logs are for people. One
// object per line, appended and flushed as it happens, each with its wall-clock
// `time` (Unix seconds):
//   {"event":"iteration","dc":"dc1","iteration":7,"seconds":0.412,"policy_version":2}
//   {"event":"iteration_failed","dc":"dc1","iteration":8,"error":"..."}
//   {"event":"policy_prepared","dc":"dc1","version":3,"from_iteration":12}
//   {"event":"policy_committed","dc":"dc1","version":3,"from_iteration":12}
//   {"event":"started","dc":"dc1","ports":{"data":41235,"metrics":41236}}
// The ports are the ones bound, so a launcher can ask for port 0 and read them.
// `policy_version` is 0 on members, which do not know it.
//
//   absl::StatusOr<std::unique_ptr<EventLog>> log = EventLog::Open("/tmp/dc1.events", "dc1");
//   (*log)->Started({{"data", 41235}, {"metrics", 41236}});
//   (*log)->IterationDone(7, 0.412, 2);
//
// Thread-safe.
#ifndef GEOSTORM_CONTROL_EVENT_LOG_H_
#define GEOSTORM_CONTROL_EVENT_LOG_H_

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "absl/status/statusor.h"

namespace geostorm::control {

class EventLog {
 public:
  // Appends to `path`. kUnavailable, naming the path, when it cannot be opened.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<EventLog>> Open(const std::string& path, std::string dc);

  void IterationDone(uint64_t iteration, double seconds, uint64_t policy_version);
  void IterationFailed(uint64_t iteration, const std::string& error);
  // A rollout reached this gateway (Prepare), and was committed here.
  void PolicyPrepared(uint64_t version, uint64_t from_iteration);
  void PolicyCommitted(uint64_t version, uint64_t from_iteration);
  void Started(const std::map<std::string, int>& ports);

 private:
  EventLog(std::ofstream out, std::string dc) : out_(std::move(out)), dc_(std::move(dc)) {}
  void Write(nlohmann::json event);

  std::mutex mu_;
  std::ofstream out_;
  const std::string dc_;
};

}  // namespace geostorm::control

#endif  // GEOSTORM_CONTROL_EVENT_LOG_H_
