#include "engine/tokenizer/normalizer.h"

#include "engine/tokenizer/unicode_nfc.h"
#include "engine/tokenizer/utf8.h"

namespace linspec::engine::tokenizer {
namespace {

std::string ReplaceAll(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  if (from.empty()) return std::string(text);
  size_t pos = 0;
  while (true) {
    const size_t hit = text.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(text.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(text.substr(pos));
  return out;
}

std::string_view StripWhitespace(std::string_view s, bool left, bool right) {
  size_t b = 0;
  size_t e = s.size();
  while (left && b < e) {
    const size_t n = ValidCharLen(s, b);
    if (n == 0 || !IsUnicodeWhitespace(DecodeChar(s, b, n))) break;
    b += n;
  }
  while (right && e > b) {
    size_t j = e - 1;
    while (j > b && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) --j;
    const size_t n = ValidCharLen(s, j);
    if (n == 0 || j + n != e || !IsUnicodeWhitespace(DecodeChar(s, j, n))) break;
    e = j;
  }
  return s.substr(b, e - b);
}

}  // namespace

absl::Status Normalizer::AddSteps(const Json& j, std::vector<Step>* steps) {
  auto type = JsonType(j, "normalizer");
  if (!type.ok()) return type.status();
  if (*type == "Sequence") {
    auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) return JsonError("normalizer", "Sequence needs array");
    for (const Json& child : *it) {
      if (absl::Status s = AddSteps(child, steps); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (*type == "Prepend") {
    auto prepend = JsonString(j, "prepend", "normalizer Prepend");
    if (!prepend.ok()) return prepend.status();
    steps->push_back({Step::Kind::kPrepend, *prepend, ""});
    return absl::OkStatus();
  }
  if (*type == "Replace") {
    auto pattern_it = j.find("pattern");
    if (pattern_it == j.end()) return JsonError("normalizer Replace", "missing pattern");
    auto pattern = ParsePattern(*pattern_it, "normalizer Replace");
    if (!pattern.ok()) return pattern.status();
    if (pattern->is_regex) {
      return JsonError("normalizer Replace", "unsupported Regex pattern (only String)");
    }
    auto content = JsonString(j, "content", "normalizer Replace");
    if (!content.ok()) return content.status();
    steps->push_back({Step::Kind::kReplace, pattern->text, *content});
    return absl::OkStatus();
  }
  if (*type == "Strip") {
    auto left = JsonBool(j, "strip_left", "normalizer Strip", true);
    auto right = JsonBool(j, "strip_right", "normalizer Strip", true);
    if (!left.ok()) return left.status();
    if (!right.ok()) return right.status();
    steps->push_back({Step::Kind::kStrip, "", "", *left, *right});
    return absl::OkStatus();
  }
  if (*type == "NFC") {
    steps->push_back({Step::Kind::kNfc});
    return absl::OkStatus();
  }
  return JsonError("normalizer", "unsupported normalizer type '" + *type + "'");
}

absl::StatusOr<std::unique_ptr<Normalizer>> Normalizer::FromJson(const Json& j) {
  if (j.is_null()) return std::unique_ptr<Normalizer>();
  auto normalizer = std::make_unique<Normalizer>();
  if (absl::Status s = AddSteps(j, &normalizer->steps_); !s.ok()) return s;
  if (normalizer->steps_.empty()) return std::unique_ptr<Normalizer>();
  return normalizer;
}

std::string Normalizer::Normalize(std::string_view text) const {
  std::string current(text);
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Step::Kind::kPrepend:
        // Hugging Face prepends only to non-empty text.
        if (!current.empty()) current.insert(0, step.from);
        break;
      case Step::Kind::kReplace:
        current = ReplaceAll(current, step.from, step.to);
        break;
      case Step::Kind::kNfc:
        current = ToNfc(current);
        break;
      case Step::Kind::kStrip:
        current = std::string(StripWhitespace(current, step.strip_left, step.strip_right));
        break;
    }
  }
  return current;
}

}  // namespace linspec::engine::tokenizer
