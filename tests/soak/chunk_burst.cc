// geostorm-chunk-burst: a burst of corrupt chunks at a gateway's data plane, as a
// faulty peer or a flipped bit on a plaintext link would send them (the soak's
// fault injector, tests/soak/soak.py). Every chunk claims to come from a real DC
// of the job, for an iteration near the current one, and is wrong in one way a
// gateway must refuse: a flipped payload bit, a header field changed within its
// range (iteration, contributors, shard, policy version), a payload cut short, a
// chunk index out of range, an unspecified kind. None is forged: a chunk whose
// checksums were made for its wrong fields is not corrupt but hostile, which
// mTLS and the sender checks are for.
//
//   geostorm-chunk-burst --target 10.77.0.3:7000 --job soak --sender dc2
//       --model-bytes 500000 --chunk-bytes 16384 --iteration 120 --count 200
//
// Prints one JSON object: sent, accepted, refused, and the refusals by reason
// (the ack's error with its numbers as N). Exits 0 when every chunk was refused,
// 1 when one was accepted, 2 when the gateway could not be reached.
#include <grpcpp/grpcpp.h>

#include <cctype>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "CLI/CLI.hpp"
#include "geostorm/v1/dataplane.grpc.pb.h"
#include "wire/chunk_codec.h"

namespace {

using geostorm::v1::Chunk;

// The kinds of damage, one per chunk in turn.
enum class Damage { kPayloadBit, kIteration, kContributors, kShard, kVersion, kShortPayload, kFarChunk, kNoKind };
constexpr int kDamages = 8;

// A refusal's message with every number as N: the same reason for every chunk.
std::string Reason(const std::string& error) {
  std::string out;
  for (size_t i = 0; i < error.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(error[i]))) {
      out += error[i];
    } else if (i == 0 || !std::isdigit(static_cast<unsigned char>(error[i - 1]))) {
      out += 'N';
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"geostorm-chunk-burst: corrupt chunks at a gateway"};
  std::string target, job = "job", sender;
  int64_t model_bytes = 0, chunk_bytes = 0;
  uint64_t iteration = 0, version = 1, seed = 1;
  int count = 100, deadline_s = 10;
  app.add_option("--target", target, "the gateway's data-plane address")->required();
  app.add_option("--job", job, "the job's name");
  app.add_option("--sender", sender, "a DC of the job, named as the sender")->required();
  app.add_option("--model-bytes", model_bytes, "the job's model size")->required()->check(CLI::PositiveNumber);
  app.add_option("--chunk-bytes", chunk_bytes, "the job's chunk size")->required()->check(CLI::PositiveNumber);
  app.add_option("--iteration", iteration, "an iteration near the job's current one");
  app.add_option("--policy-version", version, "the policy version in force");
  app.add_option("--count", count, "chunks to send")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "which chunks and bits");
  app.add_option("--deadline-s", deadline_s, "give up after this long")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  std::mt19937_64 rng(seed);
  const int64_t chunks = (model_bytes + chunk_bytes - 1) / chunk_bytes;
  auto stub = geostorm::v1::DataPlane::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(deadline_s));
  auto stream = stub->Exchange(&context);

  int sent = 0, accepted = 0;
  std::map<std::string, int> reasons;
  for (int i = 0; i < count; ++i) {
    const int64_t k = static_cast<int64_t>(rng() % static_cast<uint64_t>(chunks));
    const int64_t floats = std::min(chunk_bytes, model_bytes - k * chunk_bytes) / 4;
    auto data = std::make_shared<geostorm::wire::Floats>(static_cast<size_t>(floats));
    for (float& v : *data) v = static_cast<float>(rng() % 1000);
    const geostorm::wire::Envelope e{
        geostorm::wire::ChunkKind::kReduce, iteration + rng() % 3, version, 0, k, 1, sender, {}, data};
    Chunk c = geostorm::wire::ToProto(geostorm::wire::EncodeChunk(job, chunk_bytes, e));
    switch (static_cast<Damage>(i % kDamages)) {
      case Damage::kPayloadBit:
        (*c.mutable_payload())[rng() % c.payload().size()] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case Damage::kIteration:
        c.set_iteration(c.iteration() ^ (1u << (rng() % 4)));
        break;
      case Damage::kContributors:
        c.set_contributors(c.contributors() + 1);
        break;
      case Damage::kShard:
        c.set_shard(c.shard() + 1);
        break;
      case Damage::kVersion:
        c.set_policy_version(c.policy_version() + 1);
        break;
      case Damage::kShortPayload:
        c.mutable_payload()->resize(c.payload().size() - 4);
        break;
      case Damage::kFarChunk:
        c.set_chunk(chunks + static_cast<int64_t>(rng() % 100));
        break;
      case Damage::kNoKind:
        c.set_kind(geostorm::v1::CHUNK_KIND_UNSPECIFIED);
        break;
    }
    if (!stream->Write(c)) break;
    ++sent;
    geostorm::v1::Ack ack;
    if (!stream->Read(&ack)) break;
    if (ack.accepted()) {
      ++accepted;
    } else {
      ++reasons[Reason(ack.error())];
    }
  }
  stream->WritesDone();
  const grpc::Status status = stream->Finish();
  nlohmann::json out{{"sent", sent}, {"accepted", accepted}, {"refused", sent - accepted}, {"reasons", reasons}};
  if (sent < count) out["error"] = status.ok() ? "the stream ended early" : status.error_message();
  std::cout << out.dump() << std::endl;
  if (sent == 0) return 2;
  return accepted > 0 ? 1 : 0;
}
