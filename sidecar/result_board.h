// ResultBoard: finished result chunks per iteration, for the local worker
// sessions and member sidecars that wait on them. An iteration's entry lives while
// someone is subscribed or its result is incomplete. Each of the DC's W workers
// reads every chunk once (through its own session or its member sidecar), so a
// chunk's data is let go once W readers have had it: a gateway holds the result
// window that its slowest reader has not taken, not the whole model. Thread-safe.
#ifndef GEOSTORM_SIDECAR_RESULT_BOARD_H_
#define GEOSTORM_SIDECAR_RESULT_BOARD_H_

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sidecar/engine/aggregator.h"

namespace geostorm::sidecar {

class ResultBoard {
 public:
  using Clock = std::chrono::steady_clock;

  // `readers`: how many times each chunk is read (W on a gateway, 1 on a member).
  ResultBoard(int64_t chunks_per_iteration, int readers) : chunks_(chunks_per_iteration), readers_(readers) {}

  void Subscribe(uint64_t iteration);
  void Unsubscribe(uint64_t iteration);
  void Publish(Result result);
  // Every waiter on the iteration gets `why` as its error.
  void Fail(uint64_t iteration, const std::string& why);

  // The index-th result chunk of the iteration to arrive (0 <= index < chunks).
  // kDeadlineExceeded on timeout; the iteration's failure when it failed;
  // kFailedPrecondition for a read beyond the `readers` that the chunk was kept for.
  [[nodiscard]] absl::StatusOr<Result> Next(uint64_t iteration, size_t index, Clock::time_point deadline);

 private:
  struct Entry {
    std::vector<Result> results;
    std::vector<int> reads;  // per result
    int subscribers = 0;
    std::string error;
  };
  void MaybeErase(uint64_t iteration);

  const int64_t chunks_;
  const int readers_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::map<uint64_t, Entry> entries_;
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_RESULT_BOARD_H_
