// The event log: one JSON object per line, readable while it is written.
#include "control/event_log.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace geostorm::control {
namespace {

std::vector<nlohmann::json> ReadLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(EventLog, WritesOneParsableLinePerEventAndAppends) {
  const std::string path = ::testing::TempDir() + "/events-" + std::to_string(::getpid()) + ".jsonl";
  std::filesystem::remove(path);
  {
    absl::StatusOr<std::unique_ptr<EventLog>> log = EventLog::Open(path, "dc1");
    ASSERT_TRUE(log.ok()) << log.status();
    (*log)->IterationDone(7, 0.25, 2);
    (*log)->PolicyPrepared(3, 8);
    (*log)->PolicyCommitted(3, 8);
    EXPECT_EQ(ReadLines(path).size(), 3u);  // flushed as it happens
  }
  absl::StatusOr<std::unique_ptr<EventLog>> again = EventLog::Open(path, "dc1");
  ASSERT_TRUE(again.ok());
  (*again)->IterationFailed(8, std::string("bad \xff byte from the wire"));
  const std::vector<nlohmann::json> events = ReadLines(path);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0]["event"], "iteration");
  EXPECT_EQ(events[0]["dc"], "dc1");
  EXPECT_EQ(events[0]["iteration"], 7);
  EXPECT_DOUBLE_EQ(events[0]["seconds"].get<double>(), 0.25);
  EXPECT_EQ(events[0]["policy_version"], 2);
  EXPECT_EQ(events[1]["event"], "policy_prepared");
  EXPECT_EQ(events[1]["version"], 3);
  EXPECT_EQ(events[2]["event"], "policy_committed");
  EXPECT_EQ(events[2]["version"], 3);
  EXPECT_EQ(events[2]["from_iteration"], 8);
  EXPECT_EQ(events[3]["event"], "iteration_failed");
  EXPECT_NE(events[3]["error"].get<std::string>().find("byte from the wire"), std::string::npos);
  std::filesystem::remove(path);
}

TEST(EventLog, AnUnwritablePathIsAnErrorNamingIt) {
  absl::StatusOr<std::unique_ptr<EventLog>> log = EventLog::Open("/nonexistent-dir/events.jsonl", "dc1");
  EXPECT_EQ(log.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(log.status().message().find("/nonexistent-dir/events.jsonl"), std::string::npos);
}

}  // namespace
}  // namespace geostorm::control
