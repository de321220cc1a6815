#include "attend/eval/ter.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <tuple>

#include "attend/eval/references.hpp"
#include "attend/text/utf8.hpp"

namespace attend {

namespace {

constexpr std::size_t kMaxShiftSize = 10;
constexpr std::size_t kMaxShiftDistance = 50;
constexpr std::int64_t kBeamWidth = 25;
constexpr std::size_t kMaxShiftCandidates = 1000;
constexpr std::int64_t kInfinity = 10000000000000000;

using Words = std::vector<std::string>;

// One step of the cheapest path from the reference to the hypothesis, read forwards.
enum class Op : char { kMatch, kSubstitute, kHypOnly, kRefOnly, kUndefined };

struct Alignment {
  std::size_t distance = 0;
  std::vector<bool> hyp_error, ref_error;
  // ref_to_hyp[j]: the hypothesis position the reference word j is aligned to (or follows), -1
  // before the first.
  std::vector<std::int64_t> ref_to_hyp;
};

// Levenshtein distance on a beam around the pseudo-diagonal i·|ref|/|hyp|; ties prefer a
// match or substitution, then skipping a hypothesis word, then a reference word, as tercom does.
Alignment align(const Words& hyp, const Words& ref) {
  const std::size_t nh = hyp.size(), nr = ref.size();
  struct Cell {
    std::int64_t cost = kInfinity;
    Op op = Op::kUndefined;
  };
  std::vector<std::vector<Cell>> d(nh + 1, std::vector<Cell>(nr + 1));
  for (std::size_t j = 0; j <= nr; ++j) d[0][j] = {std::int64_t(j), Op::kRefOnly};
  const double ratio = nh ? double(nr) / double(nh) : 1.0;
  const std::int64_t beam = kBeamWidth < ratio / 2
                                ? static_cast<std::int64_t>(std::ceil(ratio / 2 + kBeamWidth))
                                : kBeamWidth;
  for (std::size_t i = 1; i <= nh; ++i) {
    const auto diagonal = static_cast<std::int64_t>(std::floor(double(i) * ratio));
    const auto lo = static_cast<std::size_t>(std::max<std::int64_t>(0, diagonal - beam));
    std::size_t hi = static_cast<std::size_t>(
        std::min<std::int64_t>(std::int64_t(nr) + 1, diagonal + beam));
    if (i == nh) hi = nr + 1;
    for (std::size_t j = lo; j < hi; ++j) {
      Cell& c = d[i][j];
      if (j == 0) {
        c = {d[i - 1][0].cost + 1, Op::kHypOnly};
        continue;
      }
      const bool same = hyp[i - 1] == ref[j - 1];
      const Cell options[3] = {{d[i - 1][j - 1].cost + (same ? 0 : 1), same ? Op::kMatch : Op::kSubstitute},
                               {d[i - 1][j].cost + 1, Op::kHypOnly},
                               {d[i][j - 1].cost + 1, Op::kRefOnly}};
      for (const Cell& o : options)
        if (o.cost < c.cost) c = o;
    }
  }
  std::vector<Op> path;
  for (std::size_t i = nh, j = nr; i > 0 || j > 0;) {
    const Op op = d[i][j].op;
    path.push_back(op);
    if (op == Op::kMatch || op == Op::kSubstitute) {
      --i;
      --j;
    } else if (op == Op::kHypOnly) {
      --i;
    } else {
      --j;
    }
  }
  std::reverse(path.begin(), path.end());
  Alignment a;
  a.distance = static_cast<std::size_t>(d[nh][nr].cost);
  std::int64_t h = -1;
  for (const Op op : path) {
    if (op != Op::kRefOnly) {
      ++h;
      a.hyp_error.push_back(op != Op::kMatch);
    }
    if (op != Op::kHypOnly) {
      a.ref_to_hyp.push_back(h);
      a.ref_error.push_back(op != Op::kMatch);
    }
  }
  return a;
}

// Moves words[start, start + length) to before position `target` of the original sequence; a
// target inside the block swaps it with the words after it (sacreBLEU's _perform_shift).
Words shifted(const Words& w, std::size_t start, std::size_t length, std::size_t target) {
  const auto at = [&](std::size_t k) { return w.begin() + std::min(k, w.size()); };
  Words out;
  out.reserve(w.size());
  const auto append = [&](std::size_t from, std::size_t to) {
    if (from < to) out.insert(out.end(), at(from), at(to));
  };
  if (target < start) {
    append(0, target);
    append(start, start + length);
    append(target, start);
    append(start + length, w.size());
  } else if (target > start + length) {
    append(0, start);
    append(start + length, target);
    append(start, start + length);
    append(target, w.size());
  } else {
    append(0, start);
    append(start + length, length + target);
    append(start, start + length);
    append(length + target, w.size());
  }
  return out;
}

bool any_error(const std::vector<bool>& errors, std::size_t from, std::size_t length) {
  return std::any_of(errors.begin() + from, errors.begin() + from + length, [](bool e) { return e; });
}

struct Shift {
  std::int64_t gain = 0;
  Words words;
  bool found = false;
};

// The shift that lowers the edit distance most; ties go to the longer block, then the earlier
// block, then the earlier target (tercom's order). `checked` counts the candidates evaluated.
Shift best_shift(const Words& hyp, const Words& ref, std::size_t& checked) {
  const Alignment a = align(hyp, ref);
  Shift best;
  std::tuple<std::int64_t, std::size_t, std::int64_t, std::int64_t> best_key;
  for (std::size_t sh = 0; sh < hyp.size(); ++sh) {
    for (std::size_t sr = 0; sr < ref.size(); ++sr) {
      if ((sr > sh ? sr - sh : sh - sr) > kMaxShiftDistance) continue;
      for (std::size_t len = 1; len <= kMaxShiftSize && sh + len <= hyp.size() &&
                                sr + len <= ref.size() && hyp[sh + len - 1] == ref[sr + len - 1];
           ++len) {
        if (!any_error(a.hyp_error, sh, len) || !any_error(a.ref_error, sr, len)) continue;
        const std::int64_t aligned = a.ref_to_hyp[sr];
        if (std::int64_t(sh) <= aligned && aligned < std::int64_t(sh + len)) continue;
        std::int64_t previous = -1;
        for (std::int64_t offset = -1; offset < std::int64_t(len); ++offset) {
          const std::int64_t r = std::int64_t(sr) + offset;
          const std::int64_t target = r == -1 ? 0 : a.ref_to_hyp[std::size_t(r)] + 1;
          if (target == previous) continue;
          previous = target;
          Words candidate = shifted(hyp, sh, len, std::size_t(target));
          const std::int64_t gain =
              std::int64_t(a.distance) - std::int64_t(align(candidate, ref).distance);
          const auto key = std::make_tuple(gain, len, -std::int64_t(sh), -target);
          ++checked;
          if (!best.found || key > best_key) {
            best = {gain, std::move(candidate), true};
            best_key = key;
          }
        }
        if (checked >= kMaxShiftCandidates) return best;
      }
    }
  }
  return best;
}

Words ter_words(const std::string& line, const TerOptions& o) {
  std::string s = o.case_sensitive ? line : utf8_lowercase(line);
  if (o.no_punct)
    s.erase(std::remove_if(s.begin(), s.end(),
                           [](char c) {
                             return c == '.' || c == ',' || c == '?' || c == ':' || c == ';' ||
                                    c == '!' || c == '"' || c == '(' || c == ')';
                           }),
            s.end());
  return split_unicode_whitespace(s);
}

}  // namespace

std::size_t ter_edits(const Words& hyp, const Words& ref) {
  if (ref.empty()) return hyp.size();
  std::size_t shifts = 0, checked = 0;
  Words current = hyp;
  for (;;) {
    Shift s = best_shift(current, ref, checked);
    // sacreBLEU stops, without applying the last shift found, once it has checked too many.
    if (checked >= kMaxShiftCandidates || !s.found || s.gain <= 0) break;
    ++shifts;
    current = std::move(s.words);
  }
  return shifts + align(current, ref).distance;
}

TerScore corpus_ter(const std::vector<std::string>& hyps,
                    const std::vector<std::vector<std::string>>& refs, const TerOptions& o) {
  check_reference_streams("TER", hyps, refs);
  TerScore score;
  score.options = o;
  for (std::size_t i = 0; i < hyps.size(); ++i) {
    const Words h = ter_words(hyps[i], o);
    std::size_t fewest = 0, ref_words = 0;
    for (std::size_t k = 0; k < refs.size(); ++k) {
      const Words r = ter_words(refs[k][i], o);
      const std::size_t edits = ter_edits(h, r);
      if (k == 0 || edits < fewest) fewest = edits;
      ref_words += r.size();
    }
    score.num_edits += double(fewest);
    score.ref_length += double(ref_words) / double(refs.size());
  }
  if (score.ref_length > 0)
    score.score = 100 * score.num_edits / score.ref_length;
  else
    score.score = score.num_edits > 0 ? 100.0 : 0.0;
  return score;
}

std::string TerScore::format() const {
  char buf[64];
  std::snprintf(buf, sizeof buf, "TER = %.2f", score);
  return buf;
}

}  // namespace attend
