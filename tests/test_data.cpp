#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "attend/text/batching.hpp"
#include "attend/core/error.hpp"

using namespace attend;

namespace {

// Pairs whose source length is i % 7 + 1 and target length i % 4, tokens offset past the specials.
std::vector<EncodedPair> toy_pairs(std::size_t n) {
  std::vector<EncodedPair> pairs;
  for (std::size_t i = 0; i < n; ++i)
    pairs.push_back({std::vector<int>(i % 7 + 1, 4 + static_cast<int>(i % 5)),
                     std::vector<int>(i % 4, 5)});
  return pairs;
}

}  // namespace

TEST_CASE("encode examples maps tokens through each side's vocab without specials", "[data]") {
  const Vocab src = Vocab::build({{"a", "b", "b"}}), tgt = Vocab::build({{"x"}});
  const auto pairs = encode_examples({{{"b", "a", "q"}, {"x", "x"}}}, src, tgt);
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0].src == std::vector<int>{src.id("b"), src.id("a"), Vocab::kUnk});
  CHECK(pairs[0].tgt == std::vector<int>{tgt.id("x"), tgt.id("x")});
}

TEST_CASE("batch pads sources and ends targets with </s>", "[data]") {
  const std::vector<EncodedPair> data = {{{4, 5, 6}, {7}}, {{8}, {9, 10, 11}}};
  const Batch b = make_batch(data, {0, 1});
  const arma::umat src = {{4, 8}, {5, Vocab::kPad}, {6, Vocab::kPad}};
  const arma::umat tgt_in = {{Vocab::kBos, Vocab::kBos}, {7, 9}, {Vocab::kPad, 10}, {Vocab::kPad, 11}};
  const arma::umat tgt_out = {{7, 9}, {Vocab::kEos, 10}, {Vocab::kPad, 11}, {Vocab::kPad, Vocab::kEos}};
  CHECK(arma::approx_equal(b.src, src, "absdiff", 0));
  CHECK(arma::approx_equal(b.tgt_in, tgt_in, "absdiff", 0));
  CHECK(arma::approx_equal(b.tgt_out, tgt_out, "absdiff", 0));
  CHECK(b.src_len == std::vector<arma::uword>{3, 1});
  CHECK(b.tgt_len == std::vector<arma::uword>{2, 4});
  CHECK(b.size() == 2);
  CHECK(b.real_target_tokens() == 6);
}

TEST_CASE("batch follows the order of the indices", "[data]") {
  const std::vector<EncodedPair> data = {{{4}, {5}}, {{6, 7}, {8}}};
  const Batch b = make_batch(data, {1, 0});
  CHECK(b.src(0, 0) == 6);
  CHECK(b.src(0, 1) == 4);
  CHECK(b.src_len == std::vector<arma::uword>{2, 1});
}

TEST_CASE("batch with an empty target still predicts </s>", "[data]") {
  const Batch b = make_batch({{{4}, {}}}, {0});
  CHECK(b.tgt_in.n_rows == 1);
  CHECK(b.tgt_in(0, 0) == Vocab::kBos);
  CHECK(b.tgt_out(0, 0) == Vocab::kEos);
  CHECK(b.real_target_tokens() == 1);
}

TEST_CASE("batch rejects an empty source, no indices and bad indices", "[data]") {
  const std::vector<EncodedPair> data = {{{4}, {5}}, {{}, {5}}};
  CHECK_THROWS_WITH(make_batch(data, {0, 1}), Catch::Contains("empty source"));
  CHECK_THROWS_AS(make_batch(data, {}), Error);
  CHECK_THROWS_AS(make_batch(data, {2}), Error);
}

TEST_CASE("bucketed batches cover every example once", "[data]") {
  const auto data = toy_pairs(1037);
  std::mt19937_64 rng(3);
  const auto batches = bucketed_batches(data, 16, rng);
  std::vector<std::size_t> seen;
  for (const auto& batch : batches) {
    CHECK(!batch.empty());
    CHECK(batch.size() <= 16);
    seen.insert(seen.end(), batch.begin(), batch.end());
  }
  std::sort(seen.begin(), seen.end());
  std::vector<std::size_t> all(data.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  CHECK(seen == all);
}

TEST_CASE("bucketed batches group similar source lengths", "[data]") {
  const auto data = toy_pairs(1600);  // 2 chunks of 50 batches of 16
  std::mt19937_64 rng(5);
  std::size_t spread = 0;
  for (const auto& batch : bucketed_batches(data, 16, rng)) {
    std::size_t lo = 100, hi = 0;
    for (const auto i : batch) {
      lo = std::min(lo, data[i].src.size());
      hi = std::max(hi, data[i].src.size());
    }
    spread += hi - lo;
  }
  // Unsorted batches of 16 over 7 lengths would almost always span 5 or 6; sorted ones span 0 or 1.
  CHECK(spread <= 100);
}

TEST_CASE("bucketed batches are deterministic given the rng state and shuffled across calls",
          "[data]") {
  const auto data = toy_pairs(500);
  std::mt19937_64 a(9), b(9);
  const auto first = bucketed_batches(data, 8, a);
  CHECK(first == bucketed_batches(data, 8, b));
  CHECK(first != bucketed_batches(data, 8, a));
}

TEST_CASE("sequential batches are consecutive with a short last batch", "[data]") {
  const auto batches = sequential_batches(7, 3);
  CHECK(batches == std::vector<std::vector<std::size_t>>{{0, 1, 2}, {3, 4, 5}, {6}});
  CHECK(sequential_batches(0, 3).empty());
}

TEST_CASE("batch size zero is rejected", "[data]") {
  std::mt19937_64 rng(1);
  CHECK_THROWS_AS(sequential_batches(5, 0), Error);
  CHECK_THROWS_AS(bucketed_batches(toy_pairs(5), 0, rng), Error);
}
