// The informer against a fake API: the first list, watch events into the cache and
// the handlers, a 410 that forces a relist (which reports what vanished meanwhile),
// and a failing list that is retried.
#include "operator/kube/informer.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/unit/operator/fake_client.h"

namespace geostorm::kube {
namespace {

Json Pod(const std::string& name) { return {{"metadata", {{"name", name}}}}; }

// Handler calls, as "+name" (added or changed) and "-name" (deleted).
class Recorder {
 public:
  Informer::Handler Handler() {
    return [this](const Json& o, bool deleted) {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back((deleted ? "-" : "+") + o["metadata"].value("name", ""));
      changed_.notify_all();
    };
  }
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return seen_.size() >= n; });
  }
  std::vector<std::string> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::string> seen_;
};

TEST(Informer, ListsThenFollowsTheWatchIntoCacheAndHandlers) {
  FakeClient api;
  api.Put(kPods, "default", Pod("w-0"));
  Json changed = Pod("w-0");
  changed["metadata"]["namespace"] = "default";
  changed["metadata"]["resourceVersion"] = "50";
  changed["status"] = {{"phase", "Running"}};
  Json added = Pod("w-1");
  added["metadata"]["namespace"] = "default";
  added["metadata"]["resourceVersion"] = "51";
  Json bookmark = {{"metadata", {{"resourceVersion", "52"}}}};
  api.watches.push_back({{{WatchEvent::Type::kModified, changed},
                          {WatchEvent::Type::kAdded, added},
                          {WatchEvent::Type::kBookmark, bookmark},
                          {WatchEvent::Type::kDeleted, changed}},
                         absl::CancelledError(""),
                         nullptr});
  Recorder recorder;
  Informer informer(api, kPods, "default", "");
  informer.AddHandler(recorder.Handler());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(recorder.WaitFor(4));
  EXPECT_EQ(recorder.seen(), (std::vector<std::string>{"+w-0", "+w-0", "+w-1", "-w-0"}));
  EXPECT_FALSE(informer.Get("default", "w-0").has_value());
  ASSERT_TRUE(informer.Get("default", "w-1").has_value());
  EXPECT_EQ(informer.lists(), 1);
  informer.Stop();
}

TEST(Informer, AGoneResourceVersionRelistsAndReportsWhatVanished) {
  FakeClient api;
  api.Put(kPods, "default", Pod("w-0"));
  api.Put(kPods, "default", Pod("w-1"));
  // w-1 goes while the watch is down, and the watch ends with 410.
  api.watches.push_back({{},
                         absl::OutOfRangeError("410 Gone: too old resource version"),
                         [](std::map<std::string, Json>& objects) { objects.erase(kPods.Path("default", "w-1")); }});
  Recorder recorder;
  InformerOptions options;
  options.retry_delay = std::chrono::milliseconds(10);
  Informer informer(api, kPods, "default", "", options);
  informer.AddHandler(recorder.Handler());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(recorder.WaitFor(3));
  EXPECT_EQ(recorder.seen(), (std::vector<std::string>{"+w-0", "+w-1", "-w-1"}));
  EXPECT_EQ(informer.lists(), 2);
  EXPECT_FALSE(informer.Get("default", "w-1").has_value());
  EXPECT_TRUE(informer.Get("default", "w-0").has_value());
  informer.Stop();
}

TEST(Informer, AFailedListIsRetriedUntilItSyncs) {
  FakeClient api;
  api.Put(kPods, "default", Pod("w-0"));
  api.fail["list"] = absl::UnavailableError("connection refused");
  InformerOptions options;
  options.retry_delay = std::chrono::milliseconds(10);
  Informer informer(api, kPods, "default", "", options);
  informer.Start();
  EXPECT_FALSE(informer.WaitForSync(std::chrono::milliseconds(100)));
  {
    std::lock_guard<std::mutex> lock(api.mu);
    EXPECT_GE(api.calls["list"], 2);  // retried
    api.fail.erase("list");
  }
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(10)));
  EXPECT_TRUE(informer.Get("default", "w-0").has_value());
  informer.Stop();
}

}  // namespace
}  // namespace geostorm::kube
