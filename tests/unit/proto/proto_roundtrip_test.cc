// Every API message survives serialize -> parse with all fields set (random values, seed
// printed), and unknown fields from a newer peer are preserved.
#include <cstdint>
#include <random>
#include <string>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "linspec/v1/generation.pb.h"

namespace linspec {
namespace {

using google::protobuf::util::MessageDifferencer;

std::string RandomText(std::mt19937_64& rng) {
  static const char* kPieces[] = {"hello", " world", "\n", "é", "中文", "🙂", "\t", ""};
  std::string s;
  int n = rng() % 6;
  for (int i = 0; i < n; ++i) s += kPieces[rng() % 8];
  return s;
}

template <typename M>
void ExpectRoundTrip(const M& m) {
  std::string wire;
  ASSERT_TRUE(m.SerializeToString(&wire));
  M back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_TRUE(MessageDifferencer::Equals(m, back)) << m.DebugString();
}

TEST(ProtoRoundTrip, RandomMessages) {
  const uint64_t seed = std::random_device{}();
  std::printf("seed=%llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  for (int iter = 0; iter < 200; ++iter) {
    v1::GenerateRequest req;
    if (rng() % 2) {
      req.set_text(RandomText(rng));
    } else {
      for (int i = 0, n = rng() % 20; i < n; ++i) req.mutable_token_ids()->add_ids(rng() % 50000);
    }
    auto* sp = req.mutable_sampling();
    sp->set_temperature(static_cast<float>(rng() % 200) / 100.0f);
    sp->set_top_k(rng() % 100);
    sp->set_top_p(static_cast<float>(rng() % 100 + 1) / 100.0f);
    sp->set_seed(rng());
    sp->set_max_tokens(rng() % 4096);
    sp->add_stop(RandomText(rng));
    sp->add_stop_token_ids(rng() % 100);
    sp->set_ignore_eos(rng() % 2);
    req.set_model(RandomText(rng));
    req.set_request_id(std::to_string(rng()));
    req.set_priority(static_cast<int32_t>(rng() % 10) - 5);
    ExpectRoundTrip(req);

    v1::GenerateStreamResponse chunk;
    chunk.set_text(RandomText(rng));
    for (int i = 0, n = rng() % 6; i < n; ++i) chunk.add_token_ids(rng() % 50000);
    chunk.set_finish_reason(static_cast<v1::FinishReason>(rng() % 6));
    chunk.mutable_usage()->set_prompt_tokens(rng() % 1000);
    chunk.mutable_usage()->set_accepted_tokens(rng() % 1000);
    ExpectRoundTrip(chunk);

    v1::ModelInfo info;
    info.set_model_name(RandomText(rng));
    info.set_state_slot_bytes(static_cast<int64_t>(rng() >> 8));
    info.set_num_state_slots(rng() % 512);
    ExpectRoundTrip(info);
  }
}

TEST(ProtoRoundTrip, OptionalFieldsDistinguishUnsetFromZero) {
  v1::SamplingParams sp;
  EXPECT_FALSE(sp.has_temperature());
  sp.set_temperature(0.0f);
  std::string wire;
  ASSERT_TRUE(sp.SerializeToString(&wire));
  v1::SamplingParams back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_TRUE(back.has_temperature());
  EXPECT_EQ(back.temperature(), 0.0f);
  EXPECT_FALSE(back.has_top_p());
}

TEST(ProtoRoundTrip, UnknownFieldsArePreserved) {
  v1::Usage u;
  u.set_prompt_tokens(7);
  std::string wire;
  ASSERT_TRUE(u.SerializeToString(&wire));
  wire.push_back(static_cast<char>((15 << 3) | 0));  // field 15, varint
  wire.push_back(static_cast<char>(42));
  v1::Usage back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.prompt_tokens(), 7);
  std::string again;
  ASSERT_TRUE(back.SerializeToString(&again));
  EXPECT_EQ(again, wire);
}

}  // namespace
}  // namespace linspec
