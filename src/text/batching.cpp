#include "attend/text/batching.hpp"

#include <algorithm>
#include <numeric>

#include "attend/core/error.hpp"

namespace attend {

namespace {

// Fisher-Yates on the engine's raw output: std::shuffle's algorithm differs between libraries.
template <typename T>
void shuffle(std::vector<T>& v, std::mt19937_64& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

void check_batch_size(std::size_t batch_size) {
  if (batch_size == 0) throw Error("batch size must be at least 1");
}

}  // namespace

std::vector<EncodedPair> encode_examples(const std::vector<Example>& examples, const Vocab& src,
                                         const Vocab& tgt) {
  std::vector<EncodedPair> pairs;
  pairs.reserve(examples.size());
  for (const auto& e : examples) pairs.push_back({src.encode(e.src), tgt.encode(e.tgt)});
  return pairs;
}

std::size_t Batch::real_target_tokens() const {
  return std::accumulate(tgt_len.begin(), tgt_len.end(), std::size_t{0});
}

Batch make_batch(const std::vector<EncodedPair>& data, const std::vector<std::size_t>& indices) {
  if (indices.empty()) throw Error("a batch needs at least one example");
  std::size_t max_src = 0, max_tgt = 0;
  for (const std::size_t i : indices) {
    if (i >= data.size())
      throw Error("example index " + std::to_string(i) + " is outside data of size " +
                  std::to_string(data.size()));
    if (data[i].src.empty()) throw Error("example " + std::to_string(i) + " has an empty source");
    max_src = std::max(max_src, data[i].src.size());
    max_tgt = std::max(max_tgt, data[i].tgt.size());
  }
  const arma::uword B = indices.size();
  Batch batch;
  batch.src.set_size(max_src, B);
  batch.src.fill(Vocab::kPad);
  batch.tgt_in.set_size(max_tgt + 1, B);
  batch.tgt_in.fill(Vocab::kPad);
  batch.tgt_out.set_size(max_tgt + 1, B);
  batch.tgt_out.fill(Vocab::kPad);
  for (arma::uword b = 0; b < B; ++b) {
    const EncodedPair& pair = data[indices[b]];
    for (std::size_t t = 0; t < pair.src.size(); ++t) batch.src(t, b) = pair.src[t];
    batch.tgt_in(0, b) = Vocab::kBos;
    for (std::size_t t = 0; t < pair.tgt.size(); ++t) {
      batch.tgt_in(t + 1, b) = pair.tgt[t];
      batch.tgt_out(t, b) = pair.tgt[t];
    }
    batch.tgt_out(pair.tgt.size(), b) = Vocab::kEos;
    batch.src_len.push_back(pair.src.size());
    batch.tgt_len.push_back(pair.tgt.size() + 1);
  }
  return batch;
}

std::vector<std::vector<std::size_t>> bucketed_batches(const std::vector<EncodedPair>& data,
                                                       std::size_t batch_size,
                                                       std::mt19937_64& rng) {
  check_batch_size(batch_size);
  std::vector<std::size_t> order(data.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  shuffle(order, rng);
  // Sorting within a chunk keeps padding low while batches still mix across the data.
  const std::size_t chunk = 50 * batch_size;
  std::vector<std::vector<std::size_t>> batches;
  for (std::size_t start = 0; start < order.size(); start += chunk) {
    const std::size_t end = std::min(start + chunk, order.size());
    const auto at = [&](std::size_t i) { return order.begin() + static_cast<std::ptrdiff_t>(i); };
    std::stable_sort(at(start), at(end), [&](std::size_t a, std::size_t b) {
      return data[a].src.size() < data[b].src.size();
    });
    for (std::size_t b = start; b < end; b += batch_size)
      batches.emplace_back(at(b), at(std::min(b + batch_size, end)));
  }
  shuffle(batches, rng);
  return batches;
}

std::vector<std::vector<std::size_t>> sequential_batches(std::size_t n, std::size_t batch_size) {
  check_batch_size(batch_size);
  std::vector<std::vector<std::size_t>> batches;
  for (std::size_t start = 0; start < n; start += batch_size) {
    std::vector<std::size_t> batch(std::min(batch_size, n - start));
    std::iota(batch.begin(), batch.end(), start);
    batches.push_back(std::move(batch));
  }
  return batches;
}

}  // namespace attend
