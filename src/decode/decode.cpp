#include "attend/decode/decode.hpp"

#include <algorithm>

#include "attend/core/error.hpp"

namespace attend {

template <typename T>
std::vector<std::vector<Hypothesis>> decode(const Seq2Seq<T>& model,
                                            const std::vector<std::vector<int>>& sources,
                                            const SearchOptions& opt, std::size_t batch_size,
                                            Workspace<T>* ws) {
  if (batch_size == 0) throw Error("the decoding batch size must be at least 1");
  opt.validate();
  Workspace<T> own;
  Workspace<T>& w = ws ? *ws : own;
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < sources.size(); ++i)
    if (!sources[i].empty()) order.push_back(i);
  // Equal lengths share a batch with little padding; equal sources are interchangeable, so the
  // batches are the same whatever order the sources came in.
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (sources[a].size() != sources[b].size()) return sources[a].size() < sources[b].size();
    return sources[a] < sources[b];
  });
  std::vector<std::vector<Hypothesis>> out(sources.size());
  for (std::size_t first = 0; first < order.size(); first += batch_size) {
    const std::size_t n = std::min(batch_size, order.size() - first);
    const std::size_t S = sources[order[first + n - 1]].size();
    arma::umat src(S, n, arma::fill::zeros);  // Vocab::kPad == 0
    Lengths len(n);
    for (std::size_t c = 0; c < n; ++c) {
      const auto& ids = sources[order[first + c]];
      for (std::size_t j = 0; j < ids.size(); ++j) {
        if (ids[j] < 0) throw Error("source token id " + std::to_string(ids[j]) + " is negative");
        src(j, c) = static_cast<arma::uword>(ids[j]);
      }
      len[c] = ids.size();
    }
    if (opt.beam == 1) {
      auto hyps = greedy_search(model, src, len, opt, w);
      for (std::size_t c = 0; c < n; ++c) out[order[first + c]].push_back(std::move(hyps[c]));
    } else {
      auto lists = beam_search(model, src, len, opt, w);
      for (std::size_t c = 0; c < n; ++c) out[order[first + c]] = std::move(lists[c]);
    }
  }
  return out;
}

template std::vector<std::vector<Hypothesis>> decode(const Seq2Seq<float>&,
                                                     const std::vector<std::vector<int>>&,
                                                     const SearchOptions&, std::size_t,
                                                     Workspace<float>*);
template std::vector<std::vector<Hypothesis>> decode(const Seq2Seq<double>&,
                                                     const std::vector<std::vector<int>>&,
                                                     const SearchOptions&, std::size_t,
                                                     Workspace<double>*);

}  // namespace attend
