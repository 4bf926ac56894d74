// The wire codec: framing, chunk encoding and decoding, CRC32C.
#include <gtest/gtest.h>

#include <grpcpp/support/byte_buffer.h>

#include <functional>

#include "geostorm/v1/dataplane.pb.h"
#include "wire/chunk_codec.h"
#include "wire/crc32c.h"

namespace geostorm::wire {
namespace {

TEST(Crc32c, KnownVectors) {
  // RFC 3720 (iSCSI) test vectors.
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  std::vector<unsigned char> zeros(32, 0), ones(32, 0xff);
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(ones.data(), ones.size()), 0x62A8AB43u);
}

TEST(Crc32c, InterleavedStreamsAgreeWithBoostAtEveryBlockBoundary) {
  std::vector<unsigned char> bytes(3 * 8192 * 2 + 3 * 256 * 2 + 64 + 3);
  uint32_t x = 12345;
  for (unsigned char& b : bytes) b = static_cast<unsigned char>((x = x * 1103515245 + 12345) >> 16);
  for (size_t n : {0, 1, 7, 8, 9, 255, 767, 768, 769, 24575, 24576, 24577, 24576 + 768 + 13, 49152 + 1536 + 63}) {
    for (size_t offset : {0, 1, 3}) {
      ASSERT_EQ(Crc32c(bytes.data() + offset, n), Crc32cPortable(bytes.data() + offset, n))
          << n << " bytes at offset " << offset;
    }
  }
}

class ChunkCodec : public ::testing::Test {
 protected:
  WireLimits limits_{"job", 10'000, 4'000};  // chunks of 4000, 4000 and 2000 bytes
  Envelope Sample(int64_t chunk) const {
    const size_t floats = chunk == 2 ? 500 : 1000;
    auto data = std::make_shared<Floats>(floats);
    for (size_t i = 0; i < floats; ++i) (*data)[i] = static_cast<float>(i);
    return {ChunkKind::kReduce, 7, 3, 1, chunk, 2, "dc1", {"dc2", "dc3"}, data};
  }
  WireChunk Encoded(int64_t chunk) const { return EncodeChunk("job", limits_.chunk_bytes, Sample(chunk)); }
};

TEST_F(ChunkCodec, RoundTrips) {
  absl::StatusOr<Envelope> e = DecodeChunk(limits_, Encoded(2));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->iteration, 7u);
  EXPECT_EQ(e->policy_version, 3u);
  EXPECT_EQ(e->chunk, 2);
  EXPECT_EQ(e->contributors, 2);
  EXPECT_EQ(e->route, (std::vector<std::string>{"dc2", "dc3"}));
  EXPECT_EQ(*e->data, *Sample(2).data);
}

TEST_F(ChunkCodec, RefusesWhatTheWireGotWrong) {
  WireChunk c = Encoded(0);
  auto flipped = std::make_shared<Floats>(*c.payload);
  (*flipped)[17] = -1;
  c.payload = flipped;
  EXPECT_EQ(DecodeChunk(limits_, c).status().code(), absl::StatusCode::kDataLoss);
  c = Encoded(0);
  c.header.set_job("other");
  EXPECT_EQ(DecodeChunk(limits_, c).status().code(), absl::StatusCode::kNotFound);
  c = Encoded(0);
  c.header.set_chunk(3);
  EXPECT_EQ(DecodeChunk(limits_, c).status().code(), absl::StatusCode::kOutOfRange);
  c = Encoded(0);
  c.header.set_offset(4);
  EXPECT_EQ(DecodeChunk(limits_, c).status().code(), absl::StatusCode::kInvalidArgument);
  c = Encoded(0);
  c.set_payload(std::make_shared<Floats>(999, 1.0f));
  c.header.set_crc32c(Crc32c(c.payload->data(), static_cast<size_t>(c.bytes())));
  absl::StatusOr<Envelope> short_payload = DecodeChunk(limits_, c);
  EXPECT_EQ(short_payload.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(short_payload.status().message()).find("field 'length'"), std::string::npos);
  c = Encoded(0);
  c.header.set_kind(v1::CHUNK_KIND_UNSPECIFIED);
  EXPECT_EQ(DecodeChunk(limits_, c).status().code(), absl::StatusCode::kInvalidArgument);
  c = Encoded(0);
  c.header.set_contributors(0);
  EXPECT_EQ(DecodeChunk(limits_, c).status().code(), absl::StatusCode::kInvalidArgument);
}

// A header field changed on the way, to a value still in range, would be summed
// into the wrong iteration or counted wrong: the header's checksum refuses it.
TEST_F(ChunkCodec, RefusesAHeaderFieldChangedWithinItsRange) {
  const std::vector<std::function<void(v1::Chunk&)>> flips = {
      [](v1::Chunk& h) { h.set_iteration(h.iteration() ^ 4); },
      [](v1::Chunk& h) { h.set_policy_version(h.policy_version() + 1); },
      [](v1::Chunk& h) { h.set_shard(0); },
      [](v1::Chunk& h) { h.set_contributors(3); },
      [](v1::Chunk& h) { h.set_kind(v1::CHUNK_BROADCAST); },
      [](v1::Chunk& h) { h.set_sender("dc9"); },
      [](v1::Chunk& h) { h.set_layout(1); },
      [](v1::Chunk& h) { h.set_crc32c(h.crc32c() ^ 1); },
  };
  for (size_t i = 0; i < flips.size(); ++i) {
    WireChunk c = Encoded(1);
    flips[i](c.header);
    absl::StatusOr<Envelope> e = DecodeChunk(limits_, c);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kDataLoss) << "flip " << i;
    EXPECT_NE(std::string(e.status().message()).find("its header fails its CRC32C"), std::string::npos) << e.status();
    SealHeader(c.header);  // a sender that meant it: the header passes (a changed payload CRC still fails)
    EXPECT_EQ(std::string(DecodeChunk(limits_, c).status().message()).find("header"), std::string::npos)
        << "flip " << i;
  }
  // The route is not covered: relays take their hop off it.
  WireChunk relayed = Encoded(1);
  relayed.header.mutable_route()->erase(relayed.header.mutable_route()->begin());
  EXPECT_TRUE(DecodeChunk(limits_, relayed).ok());
}

// Through gRPC's codec both ways: what the framed form writes is the generated
// message, byte for byte, and what the generated message writes reads back framed.
TEST_F(ChunkCodec, FramedIsTheGeneratedMessageOnTheWire) {
  const WireChunk framed = Encoded(1);
  grpc::ByteBuffer buffer;
  bool own = false;
  ASSERT_TRUE((grpc::SerializationTraits<WireChunk>::Serialize(framed, &buffer, &own).ok()));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(buffer.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  v1::Chunk generated;
  ASSERT_TRUE(generated.ParseFromString(bytes));
  EXPECT_EQ(generated.SerializeAsString(), ToProto(framed).SerializeAsString());
  EXPECT_EQ(generated.payload().size(), 4000u);

  grpc::Slice one(bytes);
  grpc::ByteBuffer incoming(&one, 1);
  WireChunk back;
  ASSERT_TRUE((grpc::SerializationTraits<WireChunk>::Deserialize(&incoming, &back).ok()));
  absl::StatusOr<Envelope> e = DecodeChunk(limits_, back);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->route, (std::vector<std::string>{"dc2", "dc3"}));
  EXPECT_EQ(*e->data, *Sample(1).data);
  EXPECT_TRUE(back.header.payload().empty());  // kept out of the header

  // A payload of 3999 bytes arrives as such, for the decoder to refuse.
  generated.mutable_payload()->resize(3999);
  grpc::Slice odd(generated.SerializeAsString());
  grpc::ByteBuffer odd_buffer(&odd, 1);
  ASSERT_TRUE((grpc::SerializationTraits<WireChunk>::Deserialize(&odd_buffer, &back).ok()));
  EXPECT_EQ(back.bytes(), 3999);
  EXPECT_EQ(DecodeChunk(limits_, back).status().code(), absl::StatusCode::kInvalidArgument);

  // Garbage is an error, not a crash.
  grpc::Slice junk(std::string("\x6a\xff\xff\xff\x0f", 5));
  grpc::ByteBuffer junk_buffer(&junk, 1);
  EXPECT_FALSE((grpc::SerializationTraits<WireChunk>::Deserialize(&junk_buffer, &back).ok()));
}

}  // namespace
}  // namespace geostorm::wire
