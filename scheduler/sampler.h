// Sampling policy: temperature / top-k / top-p transforms and a counter-based random
// generator. Every random number a request uses is a pure function of (seed, output index,
// stream), so a seeded request produces the same tokens whatever else is in the batch and
// whenever it arrived.
//
// Thread-safety: pure functions (scratch buffers are per thread; no allocation per row once
// warm).
#ifndef LINSPEC_SCHEDULER_SAMPLER_H_
#define LINSPEC_SCHEDULER_SAMPLER_H_

#include <cstdint>
#include <vector>

#include "common/counter_rng.h"
#include "engine/types.h"
#include "scheduler/request.h"

namespace linspec::scheduler {

// Independent random streams of one request (common/counter_rng.h; the device sampler draws
// the same numbers).
using ::linspec::RandomStream;

// Uniform in [0, 1) for the token at output index `index` of a request seeded with `seed`.
double UniformAt(uint64_t seed, uint64_t index, RandomStream stream);

// Mixes two 64-bit words (SplitMix64 finalizer); used to derive per-request seeds.
uint64_t MixSeed(uint64_t a, uint64_t b);

// probs[v] for v < vocab: softmax(logits / temperature) restricted to the top_k most likely
// tokens and then to the smallest set whose mass reaches top_p (ties: lower id first),
// renormalized. temperature must be > 0 (greedy requests use the argmax instead).
// exp is computed to ~1 ulp; weights below the float normal range (p < ~1e-38) are 0.
void ToProbs(const float* logits, int vocab, const SamplingParams& params,
             std::vector<float>* probs);

// Inverse-CDF draw with u in [0, 1). Zero-probability tokens are never returned.
engine::TokenId SampleFromProbs(const float* probs, int vocab, double u);

}  // namespace linspec::scheduler

#endif  // LINSPEC_SCHEDULER_SAMPLER_H_
