#include "attend/eval/chrf.hpp"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

#include "attend/eval/references.hpp"
#include "attend/text/utf8.hpp"

namespace attend {

namespace {

using NgramCounts = std::unordered_map<std::string, std::size_t>;

// Counts of one sentence per order: character orders first, then word orders.
using SentenceNgrams = std::vector<NgramCounts>;

bool is_ascii_punctuation(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return (u >= 0x21 && u <= 0x2F) || (u >= 0x3A && u <= 0x40) || (u >= 0x5B && u <= 0x60) ||
         (u >= 0x7B && u <= 0x7E);
}

// Words with one punctuation mark split off the end, or else off the start (chrF++'s
// tokenisation; "(hi)" becomes "(hi" and ")").
std::vector<std::string> words_for_chrf(const std::string& line) {
  std::vector<std::string> out;
  for (const auto& w : split_unicode_whitespace(line)) {
    if (code_points(w) == 1) {
      out.push_back(w);
    } else if (is_ascii_punctuation(w.back())) {
      out.push_back(w.substr(0, w.size() - 1));
      out.push_back(w.substr(w.size() - 1));
    } else if (is_ascii_punctuation(w.front())) {
      out.push_back(w.substr(0, 1));
      out.push_back(w.substr(1));
    } else {
      out.push_back(w);
    }
  }
  return out;
}

SentenceNgrams ngrams_of(const std::string& raw, const ChrfOptions& o) {
  const std::string line = o.lowercase ? utf8_lowercase(raw) : raw;
  std::string chars;
  if (o.whitespace) {
    chars = line;
  } else {
    for (const auto& w : split_unicode_whitespace(line)) chars += w;
  }
  std::vector<std::size_t> starts;  // byte offset of each code point, then the end
  for (std::size_t i = 0; i < chars.size();) {
    starts.push_back(i);
    const std::size_t n = utf8_sequence_length(chars, i);
    i += n ? n : 1;
  }
  starts.push_back(chars.size());
  const std::size_t length = starts.size() - 1;
  SentenceNgrams grams(static_cast<std::size_t>(o.char_order + o.word_order));
  for (std::size_t n = 1; n <= static_cast<std::size_t>(o.char_order); ++n)
    for (std::size_t i = 0; i + n <= length; ++i)
      ++grams[n - 1][chars.substr(starts[i], starts[i + n] - starts[i])];
  if (o.word_order > 0) {
    const auto words = words_for_chrf(line);
    for (std::size_t n = 1; n <= static_cast<std::size_t>(o.word_order); ++n)
      for (std::size_t i = 0; i + n <= words.size(); ++i) {
        std::string g = words[i];
        for (std::size_t k = 1; k < n; ++k) g += ' ' + words[i + k];
        ++grams[o.char_order + n - 1][g];
      }
  }
  return grams;
}

std::vector<std::array<std::size_t, 3>> match_statistics(const SentenceNgrams& hyp,
                                                         const SentenceNgrams& ref) {
  std::vector<std::array<std::size_t, 3>> stats(hyp.size());
  for (std::size_t k = 0; k < hyp.size(); ++k) {
    std::size_t hyp_count = 0, ref_count = 0, matches = 0;
    for (const auto& [g, c] : hyp[k]) {
      hyp_count += c;
      const auto it = ref[k].find(g);
      if (it != ref[k].end()) matches += std::min(c, it->second);
    }
    for (const auto& entry : ref[k]) ref_count += entry.second;
    // sacreBLEU counts no hypothesis n-grams of an order the reference lacks.
    stats[k] = {ref[k].empty() ? 0 : hyp_count, ref_count, matches};
  }
  return stats;
}

}  // namespace

double chrf_from_statistics(const std::vector<std::array<std::size_t, 3>>& statistics,
                            const ChrfOptions& o) {
  const double eps = 1e-16, factor = double(o.beta) * double(o.beta);
  double eps_sum = 0, avg_prec = 0, avg_rec = 0;
  std::size_t effective_order = 0;
  for (const auto& [n_hyp, n_ref, n_match] : statistics) {
    const double prec = n_hyp > 0 ? double(n_match) / double(n_hyp) : eps;
    const double rec = n_ref > 0 ? double(n_match) / double(n_ref) : eps;
    const double denom = factor * prec + rec;
    eps_sum += denom > 0 ? (1 + factor) * prec * rec / denom : eps;
    if (n_hyp > 0 && n_ref > 0) {
      avg_prec += prec;
      avg_rec += rec;
      ++effective_order;
    }
  }
  if (o.eps_smoothing) return 100 * eps_sum / double(statistics.size());
  if (effective_order == 0) return 0.0;
  avg_prec /= double(effective_order);
  avg_rec /= double(effective_order);
  if (avg_prec + avg_rec == 0) return 0.0;
  return 100 * (1 + factor) * avg_prec * avg_rec / (factor * avg_prec + avg_rec);
}

ChrfScore corpus_chrf(const std::vector<std::string>& hyps,
                      const std::vector<std::vector<std::string>>& refs, const ChrfOptions& o) {
  check_reference_streams("chrF", hyps, refs);
  ChrfScore score;
  score.options = o;
  score.statistics.assign(static_cast<std::size_t>(o.char_order + o.word_order), {0, 0, 0});
  for (std::size_t i = 0; i < hyps.size(); ++i) {
    const SentenceNgrams h = ngrams_of(hyps[i], o);
    std::vector<std::array<std::size_t, 3>> best;
    double best_f = -1;
    for (const auto& stream : refs) {
      auto stats = match_statistics(h, ngrams_of(stream[i], o));
      const double f = chrf_from_statistics(stats, o);
      if (f > best_f) {
        best_f = f;
        best = std::move(stats);
      }
    }
    for (std::size_t k = 0; k < best.size(); ++k)
      for (std::size_t c = 0; c < 3; ++c) score.statistics[k][c] += best[k][c];
  }
  score.score = chrf_from_statistics(score.statistics, o);
  return score;
}

std::string ChrfScore::name() const {
  return "chrF" + std::to_string(options.beta) + std::string(options.word_order, '+');
}

std::string ChrfScore::format() const {
  char buf[64];
  std::snprintf(buf, sizeof buf, " = %.2f", score);
  return name() + buf;
}

}  // namespace attend
