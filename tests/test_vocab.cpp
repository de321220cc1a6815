#include <catch2/catch.hpp>

#include "attend/core/error.hpp"
#include "attend/text/vocab.hpp"

using namespace attend;
using Strings = std::vector<std::string>;

TEST_CASE("char tokenizer splits UTF-8 code points and keeps spaces", "[vocab]") {
  CHECK(tokenize("a é€😀", Tokenizer::Char) == Strings{"a", " ", "é", "€", "😀"});
}

TEST_CASE("char tokenizer rejects invalid UTF-8", "[vocab]") {
  CHECK_THROWS_AS(tokenize("ab\xff", Tokenizer::Char), Error);
  CHECK_THROWS_AS(tokenize("\xc3", Tokenizer::Char), Error);          // truncated
  CHECK_THROWS_AS(tokenize("\xc0\xaf", Tokenizer::Char), Error);      // overlong
  CHECK_THROWS_AS(tokenize("\xed\xa0\x80", Tokenizer::Char), Error);  // surrogate
  CHECK_THROWS_AS(tokenize("\xe2\x82x", Tokenizer::Char), Error);      // bad third byte
  CHECK_THROWS_AS(tokenize("\xf0\x9f\x98x", Tokenizer::Char), Error);  // bad fourth byte
  CHECK_THROWS_WITH(tokenize("\x80", Tokenizer::Char), Catch::Contains("invalid UTF-8"));
}

TEST_CASE("space tokenizer splits on runs of whitespace", "[vocab]") {
  CHECK(tokenize("  the\tcat  sat\n", Tokenizer::Space) == Strings{"the", "cat", "sat"});
}

TEST_CASE("detokenize inverts tokenize", "[vocab]") {
  CHECK(detokenize(tokenize("a b€c", Tokenizer::Char), Tokenizer::Char) == "a b€c");
  CHECK(detokenize(tokenize("the cat sat", Tokenizer::Space), Tokenizer::Space) == "the cat sat");
}

TEST_CASE("tokenizer names round-trip and unknown names list valid ones", "[vocab]") {
  CHECK(tokenizer_from_name(tokenizer_name(Tokenizer::Char)) == Tokenizer::Char);
  CHECK(tokenizer_from_name(tokenizer_name(Tokenizer::Space)) == Tokenizer::Space);
  CHECK_THROWS_WITH(tokenizer_from_name("bpe"), Catch::Contains("char") && Catch::Contains("space"));
}

TEST_CASE("default vocab holds the four specials at fixed ids", "[vocab]") {
  const Vocab v;
  CHECK(v.tokens() == Strings{"<pad>", "<s>", "</s>", "<unk>"});
  CHECK(v.id("<pad>") == Vocab::kPad);
  CHECK(v.id("<s>") == Vocab::kBos);
  CHECK(v.id("</s>") == Vocab::kEos);
  CHECK(v.id("<unk>") == Vocab::kUnk);
}

TEST_CASE("vocab build orders by frequency then token", "[vocab]") {
  const Vocab v = Vocab::build({{"b", "c", "a"}, {"c", "b", "d"}, {"c"}});
  CHECK(v.tokens() == Strings{"<pad>", "<s>", "</s>", "<unk>", "c", "b", "a", "d"});
}

TEST_CASE("vocab build applies min_freq and max_size", "[vocab]") {
  const std::vector<Strings> text = {{"x", "x", "x", "y", "y", "z"}};
  CHECK(Vocab::build(text, 2).tokens() == Strings{"<pad>", "<s>", "</s>", "<unk>", "x", "y"});
  CHECK(Vocab::build(text, 1, 5).tokens() == Strings{"<pad>", "<s>", "</s>", "<unk>", "x"});
  CHECK_THROWS_AS(Vocab::build(text, 1, 3), Error);
}

TEST_CASE("vocab build does not duplicate special tokens found in text", "[vocab]") {
  const Vocab v = Vocab::build({{"<unk>", "a", "</s>"}});
  CHECK(v.size() == 5);
  CHECK(v.token(4) == "a");
}

TEST_CASE("vocab maps unknown tokens to <unk>", "[vocab]") {
  const Vocab v = Vocab::build({{"a", "b"}});
  CHECK(v.encode({"b", "zz", "a"}) == std::vector<int>{v.id("b"), Vocab::kUnk, v.id("a")});
}

TEST_CASE("vocab decode stops at </s> and skips <pad> and <s>", "[vocab]") {
  const Vocab v = Vocab::build({{"a", "b"}});
  const int a = v.id("a"), b = v.id("b");
  CHECK(v.decode({Vocab::kBos, a, Vocab::kPad, b, Vocab::kEos, a}) == Strings{"a", "b"});
}

TEST_CASE("vocab token rejects ids out of range", "[vocab]") {
  const Vocab v;
  CHECK_THROWS_AS(v.token(4), Error);
  CHECK_THROWS_AS(v.token(-1), Error);
}

TEST_CASE("vocab rebuilt from its token list keeps the ids", "[vocab]") {
  const Vocab v = Vocab::build({{"q", "r", "r"}});
  const Vocab copy(v.tokens());
  CHECK(copy.id("r") == v.id("r"));
  CHECK(copy.id("q") == v.id("q"));
}

TEST_CASE("vocab rejects a token list without specials", "[vocab]") {
  CHECK_THROWS_AS(Vocab(Strings{"a", "b", "c", "d", "e"}), Error);
  CHECK_THROWS_AS(Vocab(Strings{"<pad>", "<s>", "</s>"}), Error);
}

TEST_CASE("vocab rejects duplicate tokens", "[vocab]") {
  CHECK_THROWS_WITH(Vocab(Strings{"<pad>", "<s>", "</s>", "<unk>", "a", "a"}),
                    Catch::Contains("'a'"));
}
