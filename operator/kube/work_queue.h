// A rate-limited, de-duplicating work queue of keys, as controllers use: a key
// waiting in the queue is held once however often it is added; a key being worked
// on is not handed to a second worker, but comes back once if added meanwhile.
// Retries back off per key (doubling from base_delay to max_delay), and all adds
// through AddRateLimited share a token bucket. Thread-safe.
//
//   while (std::optional<std::string> key = queue.Get()) {
//     if (Reconcile(*key).ok()) queue.Forget(*key); else queue.AddRateLimited(*key);
//     queue.Done(*key);
//   }
#ifndef GEOSTORM_OPERATOR_KUBE_WORK_QUEUE_H_
#define GEOSTORM_OPERATOR_KUBE_WORK_QUEUE_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace geostorm::kube {

struct WorkQueueOptions {
  std::chrono::milliseconds base_delay{5};
  std::chrono::milliseconds max_delay{60000};
  double qps = 50;  // token bucket for AddRateLimited
  double burst = 300;
};

class WorkQueue {
 public:
  using Clock = std::chrono::steady_clock;

  explicit WorkQueue(WorkQueueOptions options = {});

  void Add(const std::string& key);
  void AddAfter(const std::string& key, std::chrono::milliseconds delay);
  void AddRateLimited(const std::string& key);
  void Forget(const std::string& key);  // resets the key's backoff
  int retries(const std::string& key) const;
  // The next key, blocking; nullopt once shut down.
  std::optional<std::string> Get();
  void Done(const std::string& key);
  void ShutDown();
  size_t depth() const;  // keys ready now

 private:
  void AddLocked(const std::string& key);

  const WorkQueueOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::set<std::string> dirty_;  // in queue_, or to re-queue at Done()
  std::set<std::string> processing_;
  std::multimap<Clock::time_point, std::string> delayed_;
  std::map<std::string, int> failures_;
  double tokens_;
  Clock::time_point tokens_at_;
  bool shut_down_ = false;
};

}  // namespace geostorm::kube

#endif  // GEOSTORM_OPERATOR_KUBE_WORK_QUEUE_H_
