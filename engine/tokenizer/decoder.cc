#include "engine/tokenizer/decoder.h"

#include <optional>

#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/utf8.h"

namespace linspec::engine::tokenizer {
namespace {

std::string ReplaceAll(const std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return text;
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t hit = text.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(text, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  out.append(text, pos);
  return out;
}

std::optional<unsigned char> ParseByteToken(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return std::nullopt;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(token[3]);
  const int lo = hex(token[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<unsigned char>(hi * 16 + lo);
}

void FlushBytes(std::string* bytes, std::vector<std::string>* out) {
  if (bytes->empty()) return;
  if (IsValidUtf8(*bytes)) {
    out->push_back(*bytes);
  } else {
    std::string repl;
    for (size_t i = 0; i < bytes->size(); ++i) repl.append(kReplacementChar);
    out->push_back(std::move(repl));
  }
  bytes->clear();
}

// Strips up to `start` leading and `stop` trailing characters equal to `content`.
std::string StripToken(const std::string& token, const std::string& content, int start, int stop) {
  size_t b = 0;
  for (int i = 0; i < start && token.compare(b, content.size(), content) == 0 && !content.empty();
       ++i) {
    b += content.size();
  }
  size_t e = token.size();
  for (int i = 0; i < stop && e >= b + content.size() && !content.empty() &&
                  token.compare(e - content.size(), content.size(), content) == 0;
       ++i) {
    e -= content.size();
  }
  return token.substr(b, e - b);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Decoder>> Decoder::FromJson(const Json& j) {
  auto decoder = std::make_unique<Decoder>();
  if (j.is_null()) {
    decoder->null_decoder_ = true;
    return decoder;
  }
  if (absl::Status s = decoder->AddSteps(j); !s.ok()) return s;
  return decoder;
}

absl::Status Decoder::AddSteps(const Json& j) {
  auto type = JsonType(j, "decoder");
  if (!type.ok()) return type.status();
  const std::string where = "decoder " + *type;
  if (*type == "Sequence") {
    auto it = j.find("decoders");
    if (it == j.end() || !it->is_array()) return JsonError(where, "needs a 'decoders' array");
    for (const Json& child : *it) {
      if (absl::Status s = AddSteps(child); !s.ok()) return s;
    }
  } else if (*type == "ByteLevel") {
    steps_.push_back({Step::Kind::kByteLevel});
  } else if (*type == "ByteFallback") {
    steps_.push_back({Step::Kind::kByteFallback});
  } else if (*type == "Fuse") {
    steps_.push_back({Step::Kind::kFuse});
  } else if (*type == "Replace") {
    auto it = j.find("pattern");
    if (it == j.end()) return JsonError(where, "missing pattern");
    auto pattern = ParsePattern(*it, where);
    if (!pattern.ok()) return pattern.status();
    if (pattern->is_regex) return JsonError(where, "unsupported Regex pattern (only String)");
    auto content = JsonString(j, "content", where);
    if (!content.ok()) return content.status();
    steps_.push_back({Step::Kind::kReplace, pattern->text, *content});
  } else if (*type == "Strip") {
    auto content = JsonString(j, "content", where);
    auto start = JsonInt(j, "start", where, 0);
    auto stop = JsonInt(j, "stop", where, 0);
    if (!content.ok()) return content.status();
    if (!start.ok()) return start.status();
    if (!stop.ok()) return stop.status();
    Step step{Step::Kind::kStrip, *content};
    step.start = static_cast<int>(*start);
    step.stop = static_cast<int>(*stop);
    steps_.push_back(step);
  } else if (*type == "Metaspace") {
    auto replacement = JsonString(j, "replacement", where, "\xE2\x96\x81");
    auto add_prefix = JsonBool(j, "add_prefix_space", where, true);
    if (!replacement.ok()) return replacement.status();
    if (!add_prefix.ok()) return add_prefix.status();
    auto scheme = JsonString(j, "prepend_scheme", where, *add_prefix ? "always" : "never");
    if (!scheme.ok()) return scheme.status();
    Step step{Step::Kind::kMetaspace, *replacement};
    step.strip_first_space = *scheme != "never";
    steps_.push_back(step);
  } else {
    return JsonError("decoder", "unsupported decoder type '" + *type + "'");
  }
  return absl::OkStatus();
}

void Decoder::ApplyStep(const Step& step, std::vector<std::string>* tokens) {
  std::vector<std::string> out;
  switch (step.kind) {
    case Step::Kind::kByteLevel: {
      std::string bytes;
      for (const std::string& t : *tokens) {
        if (auto b = ByteLevelToBytes(t)) {
          bytes += *b;
        } else {
          bytes += t;
        }
      }
      std::string text;
      AppendUtf8Lossy(bytes, &text);
      out.push_back(std::move(text));
      break;
    }
    case Step::Kind::kByteFallback: {
      std::string bytes;
      for (std::string& t : *tokens) {
        if (auto b = ParseByteToken(t)) {
          bytes.push_back(static_cast<char>(*b));
          continue;
        }
        FlushBytes(&bytes, &out);
        out.push_back(std::move(t));
      }
      FlushBytes(&bytes, &out);
      break;
    }
    case Step::Kind::kFuse: {
      std::string all;
      for (const std::string& t : *tokens) all += t;
      out.push_back(std::move(all));
      break;
    }
    case Step::Kind::kReplace:
      for (const std::string& t : *tokens) out.push_back(ReplaceAll(t, step.from, step.to));
      break;
    case Step::Kind::kStrip:
      for (const std::string& t : *tokens)
        out.push_back(StripToken(t, step.from, step.start, step.stop));
      break;
    case Step::Kind::kMetaspace:
      for (size_t i = 0; i < tokens->size(); ++i) {
        // As in the Rust library, the first token loses all its replacement characters.
        const bool drop = i == 0 && step.strip_first_space;
        std::string t = ReplaceAll((*tokens)[i], step.from, drop ? "" : " ");
        out.push_back(std::move(t));
      }
      break;
  }
  *tokens = std::move(out);
}

std::string Decoder::Decode(std::vector<std::string> tokens) const {
  std::string text;
  if (null_decoder_) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) text.push_back(' ');
      text += tokens[i];
    }
    return text;
  }
  for (const Step& step : steps_) ApplyStep(step, &tokens);
  for (const std::string& t : tokens) text += t;
  return text;
}

bool Decoder::IsPlainByteLevel() const {
  return !null_decoder_ && steps_.size() == 1 && steps_[0].kind == Step::Kind::kByteLevel;
}

}  // namespace linspec::engine::tokenizer
