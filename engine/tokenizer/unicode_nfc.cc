#include "engine/tokenizer/unicode_nfc.h"

#include <algorithm>
#include <vector>

#include "engine/tokenizer/unicode_nfc_data.h"
#include "engine/tokenizer/utf8.h"

namespace linspec::engine::tokenizer {
namespace {

using nfc_data::kCccRanges;
using nfc_data::kCompositions;
using nfc_data::kDecompositions;

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr char32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;
// Code points below this have no decomposition, combining class or composition partner.
constexpr char32_t kFirstInteresting = 0x300;

int Ccc(char32_t cp) {
  if (cp < kFirstInteresting) return 0;
  const auto* end = kCccRanges + nfc_data::kNumCccRanges;
  const auto* it = std::upper_bound(
      kCccRanges, end, cp, [](char32_t c, const nfc_data::CccRange& r) { return c < r.first; });
  if (it == kCccRanges) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

void Decompose(char32_t cp, std::vector<char32_t>* out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  if (cp < 0xC0) {  // the first canonical decomposition is U+00C0
    out->push_back(cp);
    return;
  }
  const auto* end = kDecompositions + nfc_data::kNumDecompositions;
  const auto* it =
      std::lower_bound(kDecompositions, end, cp,
                       [](const nfc_data::Decomposition& d, char32_t c) { return d.cp < c; });
  if (it == end || it->cp != cp) {
    out->push_back(cp);
    return;
  }
  Decompose(it->first, out);
  if (it->second != 0) Decompose(it->second, out);
}

char32_t Compose(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const auto* end = kCompositions + nfc_data::kNumCompositions;
  const auto* it =
      std::lower_bound(kCompositions, end, std::make_pair(a, b),
                       [](const nfc_data::Composition& c, std::pair<char32_t, char32_t> k) {
                         return c.first != k.first ? c.first < k.first : c.second < k.second;
                       });
  if (it == end || it->first != a || it->second != b) return 0;
  return it->composite;
}

void CanonicalOrder(std::vector<char32_t>* cps) {
  std::vector<char32_t>& v = *cps;
  size_t i = 0;
  while (i < v.size()) {
    if (Ccc(v[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < v.size() && Ccc(v[j]) != 0) ++j;
    std::stable_sort(v.begin() + i, v.begin() + j,
                     [](char32_t x, char32_t y) { return Ccc(x) < Ccc(y); });
    i = j;
  }
}

void ComposeAll(std::vector<char32_t>* cps) {
  std::vector<char32_t>& v = *cps;
  if (v.empty()) return;
  size_t starter = 0;
  int last_class = Ccc(v[0]) == 0 ? 0 : 256;  // a leading non-starter blocks composition
  size_t out = 1;
  for (size_t i = 1; i < v.size(); ++i) {
    const char32_t c = v[i];
    const int cls = Ccc(c);
    const char32_t composite = last_class == 256 ? 0 : Compose(v[starter], c);
    if (composite != 0 && (last_class < cls || last_class == 0)) {
      v[starter] = composite;
      continue;
    }
    if (cls == 0) starter = out;
    last_class = cls;
    v[out++] = c;
  }
  v.resize(out);
}

}  // namespace

std::string ToNfc(std::string_view text) {
  // Fast path: nothing at or above U+0300 (lead bytes below 0xCC) means nothing to do.
  bool simple = true;
  for (unsigned char c : text) {
    if (c >= 0xCC) {
      simple = false;
      break;
    }
  }
  if (simple) return std::string(text);
  std::string out;
  out.reserve(text.size());
  std::vector<char32_t> run;  // decomposed code points since the last invalid byte
  auto flush = [&] {
    CanonicalOrder(&run);
    ComposeAll(&run);
    for (char32_t cp : run) AppendUtf8(cp, &out);
    run.clear();
  };
  size_t i = 0;
  while (i < text.size()) {
    const size_t n = ValidCharLen(text, i);
    if (n == 0) {
      flush();
      out.push_back(text[i++]);
      continue;
    }
    Decompose(DecodeChar(text, i, n), &run);
    i += n;
  }
  flush();
  return out;
}

}  // namespace linspec::engine::tokenizer
