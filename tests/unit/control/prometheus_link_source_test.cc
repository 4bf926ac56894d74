// The Prometheus query answers the link source reads: what is taken, and what is
// refused with the part that is wrong quoted.
#include <gtest/gtest.h>

#include "control/link_source.h"

namespace geostorm::control {
namespace {

std::string Answer(const std::string& result) {
  return R"({"status":"success","data":{"resultType":"vector","result":)" + result + "}}";
}

TEST(ParsePrometheusQuery, TakesEverySeriesBySrcAndDst) {
  absl::StatusOr<LinkValues> v = ParsePrometheusQuery(Answer(R"([
      {"metric":{"__name__":"geostorm_link_throughput_bytes_per_second","job":"j","src":"a","dst":"b"},
       "value":[1700000000.1,"12500000"]},
      {"metric":{"src":"b","dst":"a"},"value":[1700000000.1,"0"]}])"));
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->size(), 2u);
  EXPECT_DOUBLE_EQ((v->at({"a", "b"})), 12.5e6);
  EXPECT_DOUBLE_EQ((v->at({"b", "a"})), 0);
  EXPECT_TRUE(ParsePrometheusQuery(Answer("[]"))->empty());
}

TEST(ParsePrometheusQuery, RefusesWhatIsNotAQueryAnswerSayingWhat) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"<html>502 Bad Gateway</html>", "not a Prometheus query response"},
      {R"({"status":"error","errorType":"bad_data","error":"parse error"})", "not a Prometheus query response"},
      {Answer(R"([{"metric":{"src":"a"},"value":[1,"5"]}])"), "without src, dst or value"},
      {Answer(R"([{"metric":{"src":"a","dst":"b"},"value":[1,5]}])"), "without src, dst or value"},
      {Answer(R"([{"metric":{"src":"a","dst":7},"value":[1,"5"]}])"), "without src, dst or value"},
      {Answer(R"([{"metric":{"src":"a","dst":"b"},"value":[1,"fast"]}])"), "not a number"},
      {Answer(R"([{"metric":{"src":"a","dst":"b"},"value":[1,"5 MB/s"]}])"), "not a number"},
      {Answer(R"([{"metric":{"src":"a","dst":"b"},"value":[1,"+Inf"]}])"), "not finite"},
      {Answer(R"([{"metric":{"src":"a","dst":"b"},"value":[1,"NaN"]}])"), "not finite"},
      {Answer(R"(["a"])"), "without src, dst or value"},
      {R"({"status":1,"data":{"result":[]}})", "not a Prometheus query response"},  // once an exception
      {R"({"status":"success","data":[]})", "not a Prometheus query response"},
  };
  for (const auto& [body, reason] : cases) {
    absl::StatusOr<LinkValues> v = ParsePrometheusQuery(body);
    ASSERT_FALSE(v.ok()) << body;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss) << body;
    EXPECT_NE(v.status().message().find(reason), std::string::npos) << v.status() << " for " << body;
  }
}

TEST(ParsePrometheusQuery, RefusesAnAnswerOverTheLimitBeforeParsingIt) {
  const std::string body = Answer(std::string(kMaxPrometheusAnswerBytes, ' ') + "[]");
  absl::StatusOr<LinkValues> v = ParsePrometheusQuery(body);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(v.status().message().find("over the limit"), std::string::npos) << v.status();
  EXPECT_TRUE(ParsePrometheusQuery(Answer(std::string(1000, ' ') + "[]"))->empty());
}

TEST(PrometheusLinkSource, AnUnreachableServerIsAnErrorNamingIt) {
  // Port 9 on loopback (discard) has no listener here: refused at once.
  std::unique_ptr<LinkSource> source =
      MakePrometheusLinkSource("http://127.0.0.1:9", "job", std::chrono::milliseconds(2000));
  absl::StatusOr<std::vector<LinkSample>> samples = source->Read();
  ASSERT_FALSE(samples.ok());
  EXPECT_EQ(samples.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(samples.status().message().find("prometheus at http://127.0.0.1:9"), std::string::npos) << samples.status();
}

}  // namespace
}  // namespace geostorm::control
