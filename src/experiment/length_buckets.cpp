#include "length_buckets.hpp"

#include <algorithm>
#include <cmath>

namespace attend {

std::string LengthBucket::label() const {
  return lo == hi ? std::to_string(lo) : std::to_string(lo) + "\u2013" + std::to_string(hi);
}

double bucket_em(const RunResult& r, int lo, int hi) {
  std::size_t n = 0, c = 0;
  for (std::size_t i = 0; i < r.test_correct.size() && i < r.test_src_len.size(); ++i)
    if (r.test_src_len[i] >= lo && r.test_src_len[i] <= hi) ++n, c += r.test_correct[i] != 0;
  return n ? double(c) / n : NAN;
}

double bucket_bleu(const RunResult& r, int lo, int hi) {
  BleuStats t;
  std::size_t n = 0;
  for (std::size_t i = 0; i < r.test_bleu.size() && i < r.test_src_len.size(); ++i)
    if (r.test_src_len[i] >= lo && r.test_src_len[i] <= hi) ++n, t += r.test_bleu[i];
  return n ? bleu_score(t) : NAN;
}

std::vector<LengthBucket> quantile_buckets(std::vector<int> lengths, std::size_t max_buckets) {
  std::vector<LengthBucket> out;
  if (lengths.empty() || max_buckets == 0) return out;
  std::sort(lengths.begin(), lengths.end());
  const std::size_t n = lengths.size(), B = max_buckets;
  int prev = lengths[0] - 1;
  for (std::size_t k = 1; k <= B; ++k) {
    const int hi = lengths[(k * n + B - 1) / B - 1];
    if (hi > prev) out.push_back({prev + 1, hi});
    prev = std::max(prev, hi);
  }
  return out;
}

}  // namespace attend
