// Corpus BLEU against figures from an independent implementation (NLTK's corpus_bleu on text
// tokenised by a Python re version of the 13a rules) and hand-computed exp smoothing:
// tests/fixtures/bleu/make_bleu_fixtures.py and its README.
#include <attend/eval/bleu.hpp>
#include <attend/text/corpus.hpp>
#include <attend/core/error.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

const std::string kDir = std::string(ATTEND_FIXTURE_DIR) + "/bleu/";

nlohmann::json expected() {
  std::ifstream in(kDir + "expected.json");
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("13a tokenisation matches the Python re rules on tricky lines", "[bleu]") {
  const auto all = expected();
  for (const auto& c : all["tokenizer_13a"]) {
    INFO(c["input"].get<std::string>());
    CHECK(attend::tokenize_13a(c["input"].get<std::string>()) == c["tokens"].get<std::string>());
  }
}

TEST_CASE("corpus BLEU matches the fixtures to 0.01", "[bleu]") {
  const auto all = expected();
  REQUIRE(all["cases"].size() == 7);
  for (const auto& c : all["cases"]) {
    const auto hyps = attend::read_text_lines(kDir + c["hyp"].get<std::string>());
    std::vector<std::vector<std::string>> refs;
    for (const auto& r : c["refs"]) refs.push_back(attend::read_text_lines(kDir + r.get<std::string>()));
    const auto s = attend::corpus_bleu(hyps, refs, c["lowercase"].get<bool>());
    INFO(c["hyp"].get<std::string>() << " vs " << c["refs"].dump() << ": " << s.format());
    CHECK(std::abs(s.score - c["bleu"].get<double>()) <= 0.01);
    for (std::size_t n = 0; n < 4; ++n) {
      CHECK(s.counts[n] == c["counts"][n].get<std::size_t>());
      CHECK(s.totals[n] == c["totals"][n].get<std::size_t>());
    }
  }
}

TEST_CASE("BLEU edge cases follow sacreBLEU", "[bleu]") {
  // No match at all: 0 with the BP still reported.
  auto s = attend::corpus_bleu({"x y z"}, {{"a b c d"}});
  CHECK(s.score == 0);
  CHECK(s.hyp_len == 3);
  CHECK(s.ref_len == 4);
  // Empty hypotheses: BP 0, score 0.
  s = attend::corpus_bleu({""}, {{"a b"}});
  CHECK(s.score == 0);
  CHECK(s.bp == 0);
  // A perfect match is 100 whatever the references' count.
  s = attend::corpus_bleu({"The cat sat on the mat."}, {{"The cat sat on the mat."}, {"A cat."}});
  CHECK(s.score == Approx(100));
  // Closest reference length, ties to the shorter: hyp 3 words, refs 2 and 4 words -> 2.
  s = attend::corpus_bleu({"a b c"}, {{"a b"}, {"a b c d"}});
  CHECK(s.ref_len == 2);
  // The line sacreBLEU prints.
  CHECK(attend::bleu_from_counts({6, 4, 2, 0}, {8, 6, 4, 2}, 8, 11).format() ==
        "BLEU = 34.36 75.0/66.7/50.0/25.0 (BP = 0.687 ratio = 0.727 hyp_len = 8 ref_len = 11)");
  CHECK_THROWS_AS(attend::corpus_bleu({"a"}, {{"a"}, {}}), attend::Error);
  CHECK_THROWS_AS(attend::corpus_bleu({"a"}, {}), attend::Error);
}
