// Trains the tiny SentencePiece model committed as tests/testdata/tokenizers/spm/tokenizer.model
// (BPE, byte_fallback, identity normalization) and writes the ids libsentencepiece gives
// for the corpus (spm.golden.json) with the same library. Built and run by make_spm_model.sh.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_spm_model <testdata_dir> <training_text>\n";
    return 2;
  }
  const std::string dir = argv[1];
  const std::string model_prefix = dir + "/spm/tokenizer";
  const std::string args =
      std::string("--input=") + argv[2] + " --model_prefix=" + model_prefix +
      " --vocab_size=600 --model_type=bpe --byte_fallback=true"
      " --character_coverage=0.9995 --normalization_rule_name=identity"
      " --remove_extra_whitespaces=false --split_digits=true"
      " --bos_id=1 --eos_id=2 --unk_id=0 --pad_id=-1"
      " --input_sentence_size=100000 --num_threads=1 --seed_sentencepiece_size=10000";
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  if (!status.ok()) {
    std::cerr << status.ToString() << "\n";
    return 1;
  }
  sentencepiece::SentencePieceProcessor sp;
  if (!sp.Load(model_prefix + ".model").ok()) return 1;
  std::ifstream corpus_in(dir + "/corpus.json");
  const auto corpus = nlohmann::json::parse(corpus_in).get<std::vector<std::string>>();
  nlohmann::json cases = nlohmann::json::array();
  for (const std::string& text : corpus) {
    std::vector<int> ids;
    if (!sp.Encode(text, &ids).ok()) return 1;
    cases.push_back({{"text", text}, {"ids", ids}});
  }
  std::ofstream out(dir + "/spm.golden.json");
  out << nlohmann::json{{"tokenizer", "spm"},
                        {"reference", "libsentencepiece (Encode, no BOS)"},
                        {"cases", cases}}
             .dump();
  return 0;
}
