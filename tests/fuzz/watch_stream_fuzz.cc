// A watch response body as the transport delivers it. Whatever the bytes, and
// wherever they are cut, the stream delivers the same events and ends the same way.
#include <cstdint>
#include <string>
#include <vector>

#include "operator/kube/watch_stream.h"
#include "tests/fuzz/require.h"

using geostorm::fuzz::Require;
using geostorm::kube::WatchEvent;
using geostorm::kube::WatchStream;

namespace {

struct Outcome {
  std::vector<std::string> events;
  absl::Status status;
};

Outcome Read(const std::string& body, size_t piece) {
  Outcome out;
  WatchStream stream(
      "watch", [&](const WatchEvent& e) { return out.events.emplace_back(e.object.dump()).size() < 1000; },
      /*max_event_bytes=*/4096);
  for (size_t at = 0; at < body.size() && stream.wants_more() && out.status.ok(); at += piece) {
    out.status = stream.Feed(std::string_view(body).substr(at, piece));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Outcome whole = Read(body, body.size() + 1);
  const Outcome cut = Read(body, 1 + data[0] % 64);
  Require(whole.events == cut.events, "the same events wherever the body is cut");
  Require(whole.status == cut.status, "the same end wherever the body is cut");
  return 0;
}
