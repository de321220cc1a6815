// A padded batch of sentence pairs: one column per example, token ids as the model sees them.
#pragma once
#include <armadillo>
#include <cstddef>
#include <vector>

namespace attend {

struct Batch {
  arma::umat src;      // S × B, <pad> after each source (S = longest source)
  arma::umat tgt_in;   // T × B: <s> y1 … yn, <pad> after (T = longest target + 1)
  arma::umat tgt_out;  // T × B: y1 … yn </s>, <pad> after
  std::vector<arma::uword> src_len, tgt_len;  // tgt_len counts the </s>
  std::size_t size() const { return src_len.size(); }
  std::size_t real_target_tokens() const;
};

}  // namespace attend
