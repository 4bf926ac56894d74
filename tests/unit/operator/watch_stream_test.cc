// The watch body's splitter: events cut anywhere by the transport, ERROR events as
// the server's status, and lines that are not events or are too long.
#include "operator/kube/watch_stream.h"

#include <gtest/gtest.h>

#include <vector>

namespace geostorm::kube {
namespace {

std::string Event(const std::string& type, const std::string& name) {
  return R"({"type":")" + type + R"(","object":{"metadata":{"name":")" + name + "\"}}}\n";
}

struct Collected {
  std::vector<std::string> names;
  WatchStream::OnEvent Take() {
    return [this](const WatchEvent& e) {
      names.push_back(e.object["metadata"]["name"].get<std::string>());
      return true;
    };
  }
};

TEST(WatchStream, DeliversEachEventWhereverTheBytesAreCut) {
  const std::string body = Event("ADDED", "a") + "\n" + Event("MODIFIED", "b") + Event("DELETED", "c");
  for (size_t piece = 1; piece <= body.size(); ++piece) {
    Collected got;
    WatchStream stream("watch pods", got.Take());
    for (size_t at = 0; at < body.size(); at += piece) {
      ASSERT_TRUE(stream.Feed(std::string_view(body).substr(at, piece)).ok()) << piece;
    }
    EXPECT_EQ(got.names, (std::vector<std::string>{"a", "b", "c"})) << "pieces of " << piece;
  }
}

TEST(WatchStream, StopsDeliveringWhenTheHandlerSaysSo) {
  int calls = 0;
  WatchStream stream("watch pods", [&](const WatchEvent&) { return ++calls < 2; });
  EXPECT_TRUE(stream.Feed(Event("ADDED", "a") + Event("ADDED", "b") + Event("ADDED", "c")).ok());
  EXPECT_FALSE(stream.wants_more());
  EXPECT_EQ(calls, 2);
}

TEST(WatchStream, AnErrorEventIsTheServersStatus) {
  WatchStream stream("watch pods", [](const WatchEvent&) { return true; });
  absl::Status s = stream.Feed(R"({"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old"}})"
                               "\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange) << s;
  EXPECT_EQ(s.message(), "watch pods: too old");
  EXPECT_FALSE(stream.wants_more());
  EXPECT_EQ(stream.Feed(Event("ADDED", "late")).code(), absl::StatusCode::kOutOfRange);
}

TEST(WatchStream, RefusesWhatIsNotAnEventSayingWhat) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json\n", "not a JSON object: not json"},
      {"[1,2]\n", "not a JSON object"},
      {R"({"type":"ADDED"})"
       "\n",
       "ADDED event without an object"},
      {R"({"type":7,"object":{}})"
       "\n",
       "unknown watch event type"},
      {R"({"type":"RENAMED","object":{}})"
       "\n",
       "unknown watch event type"},
      // A Status whose fields have the wrong types is still an error, not a crash.
      {R"({"type":"ERROR","object":{"code":"x","message":5}})"
       "\n",
       "watch error"},
      {R"({"type":"ERROR","object":"gone"})"
       "\n",
       "watch error"},
  };
  for (const auto& [line, reason] : cases) {
    int calls = 0;
    WatchStream stream("watch pods", [&](const WatchEvent&) { return ++calls > 0; });
    absl::Status s = stream.Feed(line);
    EXPECT_FALSE(s.ok()) << line;
    EXPECT_NE(s.message().find(reason), std::string::npos) << s << " for " << line;
    EXPECT_NE(s.message().find("watch pods"), std::string::npos) << s;
    EXPECT_EQ(calls, 0) << line;
  }
}

TEST(WatchStream, AnEventOverTheLimitEndsTheStreamEvenBeforeItsNewline) {
  Collected got;
  WatchStream stream("watch pods", got.Take(), /*max_event_bytes=*/64);
  ASSERT_TRUE(stream.Feed(Event("ADDED", "small")).ok());
  absl::Status s = stream.Feed(std::string(40, ' '));
  ASSERT_TRUE(s.ok()) << s;
  s = stream.Feed(std::string(40, ' '));  // no newline yet, and already too long
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("longer than 64 bytes"), std::string::npos) << s;
  EXPECT_EQ(got.names, std::vector<std::string>{"small"});
}

}  // namespace
}  // namespace geostorm::kube
