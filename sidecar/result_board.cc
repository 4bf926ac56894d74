#include "sidecar/result_board.h"

#include "absl/strings/str_cat.h"

namespace geostorm::sidecar {

void ResultBoard::Subscribe(uint64_t iteration) {
  std::lock_guard<std::mutex> lock(mu_);
  ++entries_[iteration].subscribers;
}

void ResultBoard::Unsubscribe(uint64_t iteration) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(iteration);
  if (it == entries_.end()) return;
  --it->second.subscribers;
  MaybeErase(iteration);
}

void ResultBoard::MaybeErase(uint64_t iteration) {
  auto it = entries_.find(iteration);
  const Entry& e = it->second;
  const bool over = !e.error.empty() || static_cast<int64_t>(e.results.size()) == chunks_;
  if (e.subscribers <= 0 && over) entries_.erase(it);
}

void ResultBoard::Publish(Result result) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t iteration = result.iteration;
    Entry& e = entries_[iteration];
    e.results.push_back(std::move(result));
    e.reads.push_back(0);
    MaybeErase(iteration);
  }
  changed_.notify_all();
}

void ResultBoard::Fail(uint64_t iteration, const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& e = entries_[iteration];
    if (e.error.empty()) e.error = why;
    MaybeErase(iteration);
  }
  changed_.notify_all();
}

absl::StatusOr<Result> ResultBoard::Next(uint64_t iteration, size_t index, Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    auto it = entries_.find(iteration);
    if (it != entries_.end()) {
      Entry& e = it->second;
      if (index < e.results.size()) {
        if (e.reads[index] >= readers_) {
          return absl::FailedPreconditionError(absl::StrCat("iteration ", iteration, ": result chunk ", index + 1,
                                                            " was read by all ", readers_, " of its readers already"));
        }
        Result r = e.results[index];
        if (++e.reads[index] == readers_) e.results[index].data.reset();  // the readers hold it now
        return r;
      }
      if (!e.error.empty()) return absl::AbortedError(e.error);
    }
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      return absl::DeadlineExceededError(absl::StrCat("iteration ", iteration, ": result chunk ", index + 1, " of ",
                                                      chunks_, " did not arrive in time"));
    }
  }
}

}  // namespace geostorm::sidecar
