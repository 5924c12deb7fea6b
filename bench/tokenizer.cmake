# Tokenizer encode/decode throughput vs the Hugging Face JS reference (tokenizer helper).
linspec_cc_binary(
  NAME linspec-bench-tokenizer
  SRCS ${CMAKE_CURRENT_LIST_DIR}/tokenizer_bench.cc
  DEPS linspec_tokenizer nlohmann_json::nlohmann_json
)
target_compile_definitions(linspec-bench-tokenizer PRIVATE LINSPEC_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
