# Scheduler throughput with speculative decoding on the CPU backend (scheduler helper).
linspec_cc_binary(
  NAME linspec-bench-scheduler
  SRCS scheduler_bench.cc
  DEPS linspec_scheduler linspec_engine linspec_tokenizer linspec_random_model CLI11::CLI11
       nlohmann_json::nlohmann_json
)

# Host sampling cost per row, old vs new sampler (sampling-performance helper).
linspec_cc_binary(
  NAME linspec-bench-sampler
  SRCS sampler_bench.cc
  DEPS linspec_scheduler CLI11::CLI11 nlohmann_json::nlohmann_json
)
