// The work queue's promises: one entry per key, no key on two workers at once,
// re-queue of a key added while in progress, per-key backoff, delayed adds.
#include "operator/kube/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace geostorm::kube {
namespace {

TEST(WorkQueue, HoldsAKeyOnceAndNeverOnTwoWorkers) {
  WorkQueue queue;
  queue.Add("a");
  queue.Add("a");
  queue.Add("b");
  EXPECT_EQ(queue.depth(), 2u);
  EXPECT_EQ(queue.Get(), "a");
  queue.Add("a");  // changed while being reconciled: comes back once, after Done
  EXPECT_EQ(queue.Get(), "b");
  EXPECT_EQ(queue.depth(), 0u);
  queue.Done("a");
  EXPECT_EQ(queue.depth(), 1u);
  EXPECT_EQ(queue.Get(), "a");
  queue.Done("a");
  queue.Done("b");
  EXPECT_EQ(queue.depth(), 0u);
}

TEST(WorkQueue, BacksOffPerKeyAndForgets) {
  WorkQueueOptions options;
  options.base_delay = std::chrono::milliseconds(40);
  WorkQueue queue(options);
  queue.AddRateLimited("k");  // 40 ms
  EXPECT_EQ(queue.depth(), 0u);
  EXPECT_EQ(queue.Get(), "k");
  queue.Done("k");
  const auto added = std::chrono::steady_clock::now();
  queue.AddRateLimited("k");  // 80 ms
  EXPECT_EQ(queue.retries("k"), 2);
  EXPECT_EQ(queue.Get(), "k");  // not before its backoff, however loaded the machine
  EXPECT_GE(std::chrono::steady_clock::now() - added, std::chrono::milliseconds(80));
  queue.Forget("k");
  EXPECT_EQ(queue.retries("k"), 0);
}

TEST(WorkQueue, DelayedAddArrivesAndShutDownReleasesWaiters) {
  WorkQueue queue;
  queue.AddAfter("later", std::chrono::milliseconds(30));
  EXPECT_EQ(queue.Get(), "later");
  std::optional<std::string> got = "x";
  std::thread waiter([&] { got = queue.Get(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  queue.ShutDown();
  waiter.join();
  EXPECT_FALSE(got.has_value());
}

TEST(WorkQueue, TwoWorkersWaitingForTheSameDelayedKeyBothWakeSafely) {
  // Both workers wait for the one delayed key. The first to wake takes it and
  // removes its entry; the second must not read that entry's deadline afterwards
  // (ASan saw exactly that, a heap use after free, in the operator).
  WorkQueue queue;
  queue.AddAfter("k", std::chrono::milliseconds(50));
  std::atomic<int> handed_out{0};
  std::optional<std::string> got[2];
  std::thread workers[2];
  for (int i = 0; i < 2; ++i) {
    workers[i] = std::thread([&, i] {
      got[i] = queue.Get();
      if (got[i]) ++handed_out;
    });
  }
  while (handed_out == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the other worker wakes too
  queue.ShutDown();
  for (std::thread& worker : workers) worker.join();
  EXPECT_EQ(handed_out, 1);
  EXPECT_EQ(got[0] ? *got[0] : *got[1], "k");
}

}  // namespace
}  // namespace geostorm::kube
