#include "operator/kube/work_queue.h"

#include <algorithm>
#include <cmath>

namespace geostorm::kube {

WorkQueue::WorkQueue(WorkQueueOptions options) : options_(options), tokens_(options.burst), tokens_at_(Clock::now()) {}

void WorkQueue::AddLocked(const std::string& key) {
  if (shut_down_ || dirty_.count(key) > 0) return;
  dirty_.insert(key);
  if (processing_.count(key) > 0) return;  // Done() puts it back
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::Add(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  AddLocked(key);
}

void WorkQueue::AddAfter(const std::string& key, std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> lock(mu_);
  if (delay.count() <= 0) return AddLocked(key);
  delayed_.emplace(Clock::now() + delay, key);
  cv_.notify_one();
}

void WorkQueue::AddRateLimited(const std::string& key) {
  std::chrono::milliseconds delay;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int failures = failures_[key]++;
    const double backoff = options_.base_delay.count() * std::pow(2.0, std::min(failures, 30));
    // The bucket: refill, then take a token, or wait for the next one.
    const Clock::time_point now = Clock::now();
    tokens_ =
        std::min(options_.burst, tokens_ + options_.qps * std::chrono::duration<double>(now - tokens_at_).count());
    tokens_at_ = now;
    tokens_ -= 1;
    const double bucket_ms = tokens_ >= 0 ? 0 : -tokens_ / options_.qps * 1000;
    delay = std::chrono::milliseconds(
        static_cast<int64_t>(std::min<double>(options_.max_delay.count(), std::max(backoff, bucket_ms))));
  }
  AddAfter(key, delay);
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  failures_.erase(key);
}

int WorkQueue::retries(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

std::optional<std::string> WorkQueue::Get() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    const Clock::time_point now = Clock::now();
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      AddLocked(delayed_.begin()->second);
      delayed_.erase(delayed_.begin());
    }
    if (shut_down_) return std::nullopt;
    if (!queue_.empty()) break;
    if (delayed_.empty()) {
      cv_.wait(lock);
    } else {
      // A copy: another worker may take the entry while this one waits.
      const Clock::time_point next = delayed_.begin()->first;
      cv_.wait_until(lock, next);
    }
  }
  std::string key = queue_.front();
  queue_.pop_front();
  processing_.insert(key);
  dirty_.erase(key);
  return key;
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  processing_.erase(key);
  if (dirty_.count(key) > 0) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::ShutDown() {
  std::lock_guard<std::mutex> lock(mu_);
  shut_down_ = true;
  cv_.notify_all();
}

size_t WorkQueue::depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

}  // namespace geostorm::kube
