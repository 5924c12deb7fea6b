#include "engine/tokenizer/pre_tokenizer.h"

#include <utility>

namespace linspec::engine::tokenizer {

PreTokenizer::~PreTokenizer() = default;

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::FromJson(const Json& j) {
  std::unique_ptr<PreTokenizer> pre(new PreTokenizer());
  if (j.is_null()) return pre;
  if (absl::Status s = pre->AddSteps(j); !s.ok()) return s;
  for (size_t i = 0; i + 1 < pre->steps_.size(); ++i) {
    if (pre->steps_[i].kind == Step::Kind::kByteLevel) {
      return JsonError("pre_tokenizer", "unsupported: ByteLevel must be the last pre-tokenizer");
    }
  }
  return pre;
}

absl::Status PreTokenizer::AddSteps(const Json& j) {
  auto type = JsonType(j, "pre_tokenizer");
  if (!type.ok()) return type.status();
  if (*type == "Sequence") {
    auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) {
      return JsonError("pre_tokenizer", "Sequence needs a 'pretokenizers' array");
    }
    for (const Json& child : *it) {
      if (absl::Status s = AddSteps(child); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (*type == "Split") return AddSplit(j);
  if (*type == "Metaspace") return AddMetaspace(j);
  if (*type == "ByteLevel") return AddByteLevel(j);
  if (*type == "Digits") {
    auto individual = JsonBool(j, "individual_digits", "pre_tokenizer Digits", false);
    if (!individual.ok()) return individual.status();
    auto regex = SplitRegex::Create(*individual ? R"(\p{N})" : R"(\p{N}+)");
    if (!regex.ok()) return regex.status();
    Step step{Step::Kind::kSplitRegex};
    step.regex = *std::move(regex);
    steps_.push_back(std::move(step));
    return absl::OkStatus();
  }
  return JsonError("pre_tokenizer", "unsupported pre-tokenizer type '" + *type + "'");
}

absl::Status PreTokenizer::AddSplit(const Json& j) {
  auto pattern_it = j.find("pattern");
  if (pattern_it == j.end()) return JsonError("pre_tokenizer Split", "missing pattern");
  auto pattern = ParsePattern(*pattern_it, "pre_tokenizer Split");
  if (!pattern.ok()) return pattern.status();
  auto behavior = JsonString(j, "behavior", "pre_tokenizer Split", "Isolated");
  if (!behavior.ok()) return behavior.status();
  auto invert = JsonBool(j, "invert", "pre_tokenizer Split", false);
  if (!invert.ok()) return invert.status();
  if (*invert) return JsonError("pre_tokenizer Split", "unsupported: invert=true");
  Step step{Step::Kind::kSplitRegex};
  if (*behavior == "Removed") {
    step.removed = true;
  } else if (*behavior != "Isolated") {
    return JsonError("pre_tokenizer Split", "unsupported behavior '" + *behavior + "'");
  }
  if (pattern->is_regex) {
    auto regex = SplitRegex::Create(pattern->text);
    if (!regex.ok()) return regex.status();
    step.regex = *std::move(regex);
  } else {
    if (pattern->text.empty()) return JsonError("pre_tokenizer Split", "empty String pattern");
    step.kind = Step::Kind::kSplitString;
    step.literal = pattern->text;
  }
  steps_.push_back(std::move(step));
  return absl::OkStatus();
}

absl::Status PreTokenizer::AddMetaspace(const Json& j) {
  Step step{Step::Kind::kMetaspace};
  auto replacement = JsonString(j, "replacement", "pre_tokenizer Metaspace", "\xE2\x96\x81");
  if (!replacement.ok()) return replacement.status();
  step.literal = *replacement;
  auto split = JsonBool(j, "split", "pre_tokenizer Metaspace", true);
  if (!split.ok()) return split.status();
  step.split = *split;
  auto add_prefix = JsonBool(j, "add_prefix_space", "pre_tokenizer Metaspace", true);
  if (!add_prefix.ok()) return add_prefix.status();
  auto scheme =
      JsonString(j, "prepend_scheme", "pre_tokenizer Metaspace", *add_prefix ? "always" : "never");
  if (!scheme.ok()) return scheme.status();
  if (*scheme == "always") {
    step.prepend = PrependScheme::kAlways;
  } else if (*scheme == "first") {
    step.prepend = PrependScheme::kFirst;
  } else if (*scheme == "never") {
    step.prepend = PrependScheme::kNever;
  } else {
    return JsonError("pre_tokenizer Metaspace", "unsupported prepend_scheme '" + *scheme + "'");
  }
  steps_.push_back(std::move(step));
  return absl::OkStatus();
}

absl::Status PreTokenizer::AddByteLevel(const Json& j) {
  Step step{Step::Kind::kByteLevel};
  auto add_prefix = JsonBool(j, "add_prefix_space", "pre_tokenizer ByteLevel", true);
  auto use_regex = JsonBool(j, "use_regex", "pre_tokenizer ByteLevel", true);
  if (!add_prefix.ok()) return add_prefix.status();
  if (!use_regex.ok()) return use_regex.status();
  step.add_prefix_space = *add_prefix;
  if (*use_regex) {
    auto regex = SplitRegex::Create(kGpt2SplitPattern);
    if (!regex.ok()) return regex.status();
    step.regex = *std::move(regex);
  }
  byte_level_ = true;
  steps_.push_back(std::move(step));
  return absl::OkStatus();
}

void PreTokenizer::RunStep(const Step& step, std::vector<std::string_view>* words,
                           std::vector<bool>* at_start, std::deque<std::string>* storage) const {
  std::vector<std::string_view> out;
  std::vector<bool> out_start;
  out.reserve(words->size() * 4);
  for (size_t w = 0; w < words->size(); ++w) {
    std::string_view word = (*words)[w];
    const bool start = (*at_start)[w];
    const size_t before = out.size();
    switch (step.kind) {
      case Step::Kind::kSplitRegex:
        step.regex->Split(word, step.removed, &out);
        break;
      case Step::Kind::kSplitString: {
        size_t pos = 0;
        while (true) {
          const size_t hit = word.find(step.literal, pos);
          const size_t end = hit == std::string_view::npos ? word.size() : hit;
          if (end > pos) out.push_back(word.substr(pos, end - pos));
          if (hit == std::string_view::npos) break;
          if (!step.removed) out.push_back(word.substr(hit, step.literal.size()));
          pos = hit + step.literal.size();
        }
        break;
      }
      case Step::Kind::kByteLevel:
        if (step.add_prefix_space && (word.empty() || word[0] != ' ')) {
          std::string prefixed;
          prefixed.reserve(word.size() + 1);
          prefixed.push_back(' ');
          prefixed.append(word);
          storage->push_back(std::move(prefixed));
          word = storage->back();
        }
        if (step.regex != nullptr) {
          step.regex->Split(word, false, &out);
        } else {
          out.push_back(word);
        }
        break;
      case Step::Kind::kMetaspace: {
        std::string replaced;
        replaced.reserve(word.size() + step.literal.size());
        const bool prepend = step.prepend == PrependScheme::kAlways ||
                             (step.prepend == PrependScheme::kFirst && start);
        const bool starts_with_space = !word.empty() && word[0] == ' ';
        if (prepend && !starts_with_space && word.substr(0, step.literal.size()) != step.literal) {
          replaced += step.literal;
        }
        for (char c : word) {
          if (c == ' ') {
            replaced += step.literal;
          } else {
            replaced.push_back(c);
          }
        }
        storage->push_back(std::move(replaced));
        std::string_view r = storage->back();
        if (!step.split) {
          out.push_back(r);
          break;
        }
        // MergedWithNext: every replacement character starts a new word.
        size_t piece_start = 0;
        size_t pos = r.find(step.literal, 1);
        while (pos != std::string_view::npos) {
          out.push_back(r.substr(piece_start, pos - piece_start));
          piece_start = pos;
          pos = r.find(step.literal, pos + step.literal.size());
        }
        if (piece_start < r.size()) out.push_back(r.substr(piece_start));
        break;
      }
    }
    for (size_t k = before; k < out.size(); ++k) out_start.push_back(start && k == before);
  }
  *words = std::move(out);
  *at_start = std::move(out_start);
}

void PreTokenizer::Run(std::string_view text, bool at_start, std::vector<std::string_view>* words,
                       std::deque<std::string>* storage) const {
  std::vector<std::string_view> current{text};
  std::vector<bool> starts{at_start};
  for (const Step& step : steps_) RunStep(step, &current, &starts, storage);
  for (std::string_view w : current) {
    if (!w.empty()) words->push_back(w);
  }
}

}  // namespace linspec::engine::tokenizer
