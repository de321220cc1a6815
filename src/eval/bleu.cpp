#include "attend/eval/bleu.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "attend/eval/references.hpp"
#include "attend/text/corpus.hpp"
#include "attend/text/utf8.hpp"

namespace attend {

namespace {

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  std::string out;
  std::size_t start = 0, at;
  while ((at = s.find(from, start)) != std::string::npos) {
    out.append(s, start, at - start);
    out += to;
    start = at + from.size();
  }
  out.append(s, start, std::string::npos);
  s.swap(out);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_period_comma(char c) { return c == '.' || c == ','; }

// The first rule's class [{-~[-` -&(-+:-@/]: ASCII symbols, punctuation except ' , - . and space.
bool is_split_symbol(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return (u >= 0x7B && u <= 0x7E) || (u >= 0x5B && u <= 0x60) || (u >= 0x20 && u <= 0x26) ||
         (u >= 0x28 && u <= 0x2B) || (u >= 0x3A && u <= 0x40) || u == '/';
}

using NgramCounts = std::unordered_map<std::string, std::size_t>;

// All n-grams of orders 1-4 (words joined by a space; words never contain one).
NgramCounts ngrams_of(const std::vector<std::string>& words) {
  NgramCounts counts;
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string g;
    for (std::size_t n = 1; n <= 4 && i + n <= words.size(); ++n) {
      if (n > 1) g += ' ';
      g += words[i + n - 1];
      ++counts[std::to_string(n) + "|" + g];
    }
  }
  return counts;
}

std::vector<std::string> preprocess(const std::string& line, bool lowercase) {
  std::string s = line;
  while (!s.empty() && utf8_whitespace_length(s, s.size() - 1) == 1) s.pop_back();  // rstrip (ASCII)
  if (lowercase) s = utf8_lowercase(s);
  return split_unicode_whitespace(tokenize_13a(s));
}

}  // namespace

std::string tokenize_13a(const std::string& input) {
  std::string line = input;
  replace_all(line, "<skipped>", "");
  replace_all(line, "-\n", "");
  replace_all(line, "\n", " ");
  replace_all(line, "&quot;", "\"");
  replace_all(line, "&amp;", "&");
  replace_all(line, "&lt;", "<");
  replace_all(line, "&gt;", ">");
  line = " " + line + " ";

  std::string a;  // symbols
  for (char c : line) {
    if (is_split_symbol(c)) {
      a += ' ';
      a += c;
      a += ' ';
    } else {
      a += c;
    }
  }
  // Each rule below mirrors re.sub: leftmost, non-overlapping matches scanned left to right.
  std::string b;  // ([^0-9])([.,]) -> "\1 \2 "
  for (std::size_t i = 0; i < a.size();) {
    if (i + 1 < a.size() && !is_digit(a[i]) && is_period_comma(a[i + 1])) {
      b += a[i];
      b += ' ';
      b += a[i + 1];
      b += ' ';
      i += 2;
    } else {
      b += a[i++];
    }
  }
  std::string c;  // ([.,])([^0-9]) -> " \1 \2"
  for (std::size_t i = 0; i < b.size();) {
    if (i + 1 < b.size() && is_period_comma(b[i]) && !is_digit(b[i + 1])) {
      c += ' ';
      c += b[i];
      c += ' ';
      c += b[i + 1];
      i += 2;
    } else {
      c += b[i++];
    }
  }
  std::string d;  // ([0-9])(-) -> "\1 \2 "
  for (std::size_t i = 0; i < c.size();) {
    if (i + 1 < c.size() && is_digit(c[i]) && c[i + 1] == '-') {
      d += c[i];
      d += " - ";
      i += 2;
    } else {
      d += c[i++];
    }
  }
  std::string out;
  for (const auto& w : split_unicode_whitespace(d)) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

BleuScore bleu_from_counts(const std::array<std::size_t, 4>& counts,
                           const std::array<std::size_t, 4>& totals, std::size_t hyp_len,
                           std::size_t ref_len) {
  BleuScore r;
  r.counts = counts;
  r.totals = totals;
  r.hyp_len = hyp_len;
  r.ref_len = ref_len;
  r.ratio = ref_len ? double(hyp_len) / double(ref_len) : 0.0;
  if (hyp_len < ref_len)
    r.bp = hyp_len > 0 ? std::exp(1.0 - double(ref_len) / double(hyp_len)) : 0.0;
  else
    r.bp = 1.0;
  if (std::all_of(counts.begin(), counts.end(), [](std::size_t c) { return c == 0; })) return r;
  double smooth = 1.0;
  for (std::size_t n = 0; n < 4; ++n) {
    if (totals[n] == 0) break;
    if (counts[n] == 0) {
      smooth *= 2;
      r.precisions[n] = 100.0 / (smooth * double(totals[n]));
    } else {
      r.precisions[n] = 100.0 * double(counts[n]) / double(totals[n]);
    }
  }
  double log_sum = 0;
  for (double p : r.precisions) log_sum += p > 0 ? std::log(p) : -9999999999.0;  // sacreBLEU's my_log
  r.score = r.bp * std::exp(log_sum / 4);
  return r;
}

BleuScore corpus_bleu(const std::vector<std::string>& hyps,
                      const std::vector<std::vector<std::string>>& refs, bool lowercase) {
  check_reference_streams("BLEU", hyps, refs);
  std::array<std::size_t, 4> counts{}, totals{};
  std::size_t hyp_len = 0, ref_len = 0;
  for (std::size_t i = 0; i < hyps.size(); ++i) {
    const auto h = preprocess(hyps[i], lowercase);
    NgramCounts ref_max;
    std::size_t closest_diff = 0, closest_len = 0;
    bool first = true;
    for (const auto& stream : refs) {
      const auto r = preprocess(stream[i], lowercase);
      for (const auto& [g, c] : ngrams_of(r)) ref_max[g] = std::max(ref_max[g], c);
      const std::size_t diff = r.size() > h.size() ? r.size() - h.size() : h.size() - r.size();
      if (first || diff < closest_diff) {
        closest_diff = diff;
        closest_len = r.size();
      } else if (diff == closest_diff && r.size() < closest_len) {
        closest_len = r.size();
      }
      first = false;
    }
    hyp_len += h.size();
    ref_len += closest_len;
    for (const auto& [g, c] : ngrams_of(h)) {
      const std::size_t n = static_cast<std::size_t>(g[0] - '1');
      const auto it = ref_max.find(g);
      if (it != ref_max.end()) counts[n] += std::min(c, it->second);
    }
    for (std::size_t n = 0; n < 4; ++n)
      if (h.size() > n) totals[n] += h.size() - n;
  }
  return bleu_from_counts(counts, totals, hyp_len, ref_len);
}

std::string BleuScore::format() const {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "BLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %zu ref_len = %zu)",
                score, precisions[0], precisions[1], precisions[2], precisions[3], bp, ratio,
                hyp_len, ref_len);
  return buf;
}

}  // namespace attend
