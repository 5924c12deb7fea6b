// The byte-level BPE tokenizer written next to random models (Hugging Face tokenizer.json,
// GPT-2 conventions).
#include <string>
#include <vector>

#include "common/status_macros.h"
#include "engine/safetensors_writer.h"
#include "nlohmann/json.hpp"
#include "tools/make_model/random_model.h"

namespace linspec::tools {
namespace {

using nlohmann::ordered_json;

std::string CodepointToUtf8(int cp) {
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else {  // every code point used here is < 0x800
    s.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
  return s;
}

// GPT-2's bytes_to_unicode(): printable bytes map to themselves, the rest to 256 + n.
std::vector<std::string> ByteToUnicode() {
  std::vector<int> cp(256, -1);
  auto keep = [&](int lo, int hi) {
    for (int b = lo; b <= hi; ++b) cp[b] = b;
  };
  keep('!', '~');
  keep(0xa1, 0xac);
  keep(0xae, 0xff);
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    if (cp[b] < 0) cp[b] = 256 + n++;
  }
  std::vector<std::string> out;
  for (int b = 0; b < 256; ++b) out.push_back(CodepointToUtf8(cp[b]));
  return out;
}

ordered_json AddedToken(int id, const std::string& content) {
  return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", true}};
}

ordered_json TokenizerJson() {
  const std::vector<std::string> b2u = ByteToUnicode();
  ordered_json vocab = ordered_json::object();
  for (int b = 0; b < 256; ++b) vocab[b2u[b]] = b;
  vocab["<|bos|>"] = kRandomModelBosId;
  vocab["<|eos|>"] = kRandomModelEosId;
  const std::string space = b2u[' '];  // "Ġ"
  const std::vector<std::pair<std::string, std::string>> merges = {
      {space, "t"}, {"h", "e"}, {"i", "n"}, {"e", "r"}, {space, "a"}};
  ordered_json merge_list = ordered_json::array();
  int id = kRandomModelEosId + 1;
  for (const auto& [a, b] : merges) {
    vocab[a + b] = id++;
    merge_list.push_back(a + " " + b);
  }
  const ordered_json byte_level = {{"type", "ByteLevel"},
                                   {"add_prefix_space", false},
                                   {"trim_offsets", true},
                                   {"use_regex", true}};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens",
           {AddedToken(kRandomModelBosId, "<|bos|>"), AddedToken(kRandomModelEosId, "<|eos|>")}},
          {"normalizer", nullptr},
          {"pre_tokenizer", byte_level},
          {"post_processor", byte_level},
          {"decoder", byte_level},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"vocab", vocab},
            {"merges", merge_list}}}};
}

}  // namespace

absl::Status WriteByteLevelTokenizer(const std::string& dir) {
  RETURN_IF_ERROR(engine::WriteFileBytes(dir + "/tokenizer.json", TokenizerJson().dump(2) + "\n"));
  const ordered_json config = {
      {"tokenizer_class", "PreTrainedTokenizerFast"},
      {"bos_token", "<|bos|>"},
      {"eos_token", "<|eos|>"},
      {"add_bos_token", false},
      {"clean_up_tokenization_spaces", false},
      {"model_max_length", 1 << 20},
      {"chat_template",
       "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}\n"
       "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"}};
  return engine::WriteFileBytes(dir + "/tokenizer_config.json", config.dump(2) + "\n");
}

}  // namespace linspec::tools
