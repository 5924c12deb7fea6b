#include "engine/tokenizer/split_regex.h"

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/utf8.h"
#include "re2/re2.h"

namespace linspec::engine::tokenizer {
namespace {

constexpr std::string_view kWsBody =
    R"(\x{9}-\x{D}\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";
constexpr std::string_view kWsLookahead = R"(\s+(?!\S)|\s+)";

absl::Status Unsupported(std::string_view what, std::string_view pattern) {
  return absl::InvalidArgumentError(absl::StrCat("unsupported pre-tokenizer regex construct ",
                                                 std::string(what), " in pattern '",
                                                 std::string(pattern), "'"));
}

// Rewrites \s and \S for RE2 and rejects lookaround.
absl::StatusOr<std::string> Translate(std::string_view p) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[++i];
      if (e == 's') {
        out += in_class ? std::string(kWsBody) : absl::StrCat("[", std::string(kWsBody), "]");
      } else if (e == 'S') {
        if (in_class) return Unsupported("\\S inside a character class", p);
        out += absl::StrCat("[^", std::string(kWsBody), "]");
      } else {
        out.push_back('\\');
        out.push_back(e);
      }
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      out.push_back(c);
      continue;
    }
    if (c == '[') {
      in_class = true;
      out.push_back(c);
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < p.size() && p[i + 1] == '^') out.push_back(p[++i]);
      if (i + 1 < p.size() && p[i + 1] == ']') out.push_back(p[++i]);
      continue;
    }
    if (c == '(' && i + 2 < p.size() && p[i + 1] == '?' &&
        (p[i + 2] == '=' || p[i + 2] == '!' || p[i + 2] == '<')) {
      return Unsupported("lookaround '(?" + std::string(1, p[i + 2]) + "'", p);
    }
    out.push_back(c);
  }
  return out;
}

// Paren depth at the end of p[0, n), ignoring escapes and classes (for the top-level check).
int DepthAt(std::string_view p, size_t n) {
  int depth = 0;
  bool in_class = false;
  for (size_t i = 0; i < n; ++i) {
    if (p[i] == '\\') {
      ++i;
    } else if (in_class) {
      if (p[i] == ']') in_class = false;
    } else if (p[i] == '[') {
      in_class = true;
    } else if (p[i] == '(') {
      ++depth;
    } else if (p[i] == ')') {
      --depth;
    }
  }
  return depth;
}

absl::StatusOr<std::unique_ptr<re2::RE2>> Compile(const std::string& pattern,
                                                  std::string_view original) {
  RE2::Options options;
  options.set_encoding(RE2::Options::EncodingUTF8);
  options.set_log_errors(false);
  options.set_max_mem(64 << 20);
  auto re = std::make_unique<re2::RE2>(pattern, options);
  if (!re->ok()) {
    return absl::InvalidArgumentError(absl::StrCat("pre-tokenizer regex '", std::string(original),
                                                   "' is not supported by RE2: ", re->error()));
  }
  return re;
}

}  // namespace

SplitRegex::~SplitRegex() = default;

absl::StatusOr<std::unique_ptr<SplitRegex>> SplitRegex::Create(std::string_view pattern) {
  std::unique_ptr<SplitRegex> split(new SplitRegex());
  std::string_view main = pattern;
  std::string before;
  const size_t pos = pattern.rfind(kWsLookahead);
  if (pos != std::string_view::npos && pos + kWsLookahead.size() == pattern.size() &&
      DepthAt(pattern, pos) == 0 && (pos == 0 || pattern[pos - 1] == '|')) {
    split->ws_lookahead_ = true;
    if (pos > 0) before = std::string(pattern.substr(0, pos - 1));
  }
  std::string rewritten;
  if (split->ws_lookahead_) {
    rewritten = absl::StrCat(before.empty() ? "" : before + "|", "\\s+");
    main = rewritten;
  }
  auto translated = Translate(main);
  if (!translated.ok()) return translated.status();
  split->translated_ = *std::move(translated);
  auto re = Compile(split->translated_, pattern);
  if (!re.ok()) return re.status();
  split->re_ = *std::move(re);
  if (!before.empty()) {
    auto before_translated = Translate(before);
    if (!before_translated.ok()) return before_translated.status();
    auto before_re = Compile(*before_translated, pattern);
    if (!before_re.ok()) return before_re.status();
    split->before_ws_ = *std::move(before_re);
  }
  return split;
}

size_t SplitRegex::AdjustWhitespaceMatch(std::string_view text, size_t start, size_t end) const {
  if (!ws_lookahead_ || end >= text.size()) return end;
  // Collect the match's characters; all must be whitespace and there must be at least two.
  size_t i = start;
  size_t last_start = start;
  int count = 0;
  while (i < end) {
    const size_t n = ValidCharLen(text, i);
    if (n == 0 || !IsUnicodeWhitespace(DecodeChar(text, i, n))) return end;
    last_start = i;
    i += n;
    ++count;
  }
  if (count < 2) return end;
  // The next character must be non-whitespace (otherwise `\s+(?!\S)` takes the whole run).
  const size_t n = ValidCharLen(text, end);
  if (n == 0 || IsUnicodeWhitespace(DecodeChar(text, end, n))) return end;
  // Leftmost-first: when an earlier alternative matches here, it produced this match.
  if (before_ws_ != nullptr &&
      before_ws_->Match(text, start, text.size(), RE2::ANCHOR_START, nullptr, 0)) {
    return end;
  }
  return last_start;
}

void SplitRegex::Split(std::string_view text, bool removed,
                       std::vector<std::string_view>* out) const {
  size_t pos = 0;
  size_t gap_start = 0;
  re2::StringPiece match;
  while (pos < text.size()) {
    // Split patterns usually match at every position: try an anchored match first (one
    // forward DFA pass), and search only when there is a gap.
    if (!re_->Match(text, pos, text.size(), RE2::ANCHOR_START, &match, 1) &&
        !re_->Match(text, pos, text.size(), RE2::UNANCHORED, &match, 1)) {
      break;
    }
    const size_t start = match.data() - text.data();
    size_t end = start + match.size();
    if (end == start) {  // empty match: step over one character
      const size_t n = ValidCharLen(text, start);
      pos = start + (n == 0 ? 1 : n);
      continue;
    }
    end = AdjustWhitespaceMatch(text, start, end);
    if (start > gap_start) out->push_back(text.substr(gap_start, start - gap_start));
    if (!removed) out->push_back(text.substr(start, end - start));
    pos = end;
    gap_start = end;
  }
  if (gap_start < text.size()) out->push_back(text.substr(gap_start));
}

}  // namespace linspec::engine::tokenizer
