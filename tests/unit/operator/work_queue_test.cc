// The work queue's promises: one entry per key, no key on two workers at once,
// re-queue of a key added while in progress, per-key backoff, delayed adds.
#include "operator/kube/work_queue.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace geostorm::kube
