// End-to-end tests of training on parallel text files and the bad-input paths of corpus
// reading (exit status 2 naming file and line; --skip-bad-lines), plus translate/eval/bleu on
// the result. Tiny synthetic corpora written by the tests themselves.
#include <attend/io/checkpoint.hpp>
#include <attend/text/corpus.hpp>
#include <algorithm>
#include <cctype>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support.hpp"

namespace fs = std::filesystem;
using namespace attend::test;

namespace {

// A tiny synthetic parallel corpus: "w1 w2 w3" -> the same words reversed and upper-cased.
std::string words(int i, bool target) {
  const char* vocab[] = {"red", "blue", "cat", "dog", "sun", "moon", "tree", "hill"};
  std::vector<std::string> w = {vocab[i % 8], vocab[(i / 8) % 8], vocab[(i * 3 + 1) % 8]};
  if (target) std::reverse(w.begin(), w.end());
  std::string out;
  for (auto& x : w) {
    if (target)
      for (auto& c : x) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    out += (out.empty() ? "" : " ") + x;
  }
  return out;
}

struct Corpus {
  TempDir dir;
  std::string src, tgt;
  explicit Corpus(int n = 40) {
    std::string s, t;
    for (int i = 0; i < n; ++i) s += words(i, false) + "\n", t += words(i, true) + "\n";
    src = dir.file("c.src");
    tgt = dir.file("c.tgt");
    write_file(src, s);
    write_file(tgt, t);
  }
  // train/valid options over src/tgt as given
  std::string args(const std::string& s, const std::string& t) const {
    return "train --train-src " + quote(s) + " --train-tgt " + quote(t) + " --valid-src " + quote(src) +
           " --valid-tgt " + quote(tgt) + " --hidden 16 --emb 8 --steps 4 --batch 8 -q --model " +
           quote(dir.file("m.h5"));
  }
};

}  // namespace

TEST_CASE("training files with different line counts: exit 2 naming both files and counts", "[cli-corpus]") {
  Corpus c;
  const auto t = c.dir.file("short.tgt");
  write_file(t, "A\nB\n");
  const CliRun r = run_cli(c.dir, c.args(c.src, t));
  CHECK(r.status == 2);
  CHECK(contains(r.err, "c.src' has 40 lines"));
  CHECK(contains(r.err, "short.tgt' has 2"));
}

TEST_CASE("an empty line, an over-long line, invalid UTF-8: exit 2 naming file and line", "[cli-corpus]") {
  Corpus c;
  const auto s = c.dir.file("bad.src"), t = c.dir.file("bad.tgt");
  write_file(t, "A B\nC D\nE F\nG H\n");
  write_file(s, "a b\n\nc d\ne f\n");
  CliRun r = run_cli(c.dir, c.args(s, t));
  CHECK(r.status == 2);
  CHECK(contains(r.err, "bad.src:2: empty line"));
  write_file(s, "a b\nc d\ne f g h i\nx\n");
  r = run_cli(c.dir, c.args(s, t) + " --max-line-tokens 4");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "bad.src:3: line too long: 5 tokens, the limit is 4"));
  write_file(s, "a b\nc d\ne f\nx \xff y\n");
  r = run_cli(c.dir, c.args(s, t));
  CHECK(r.status == 2);
  CHECK(contains(r.err, "bad.src:4: invalid UTF-8"));
}

TEST_CASE("a missing file and an unreadable .gz: exit 2 naming the file", "[cli-corpus]") {
  Corpus c;
  CliRun r = run_cli(c.dir, c.args(c.dir.file("missing.src"), c.tgt));
  CHECK(r.status == 2);
  CHECK(contains(r.err, "missing.src: cannot open"));
  const auto gz = c.dir.file("broken.src.gz");
  write_file(gz, std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage-not-deflate", 30));
  r = run_cli(c.dir, c.args(gz, c.tgt));
  CHECK(r.status == 2);
  CHECK(contains(r.err, "broken.src.gz: corrupt gzip data"));
  write_file(gz, "plain text\n");
  r = run_cli(c.dir, c.args(gz, c.tgt));
  CHECK(r.status == 2);
  CHECK(contains(r.err, "broken.src.gz: not gzip data"));
}

TEST_CASE("skip-bad-lines drops bad pairs with a counted warning and exit 0", "[cli-corpus]") {
  Corpus c;
  const auto s = c.dir.file("bad.src"), t = c.dir.file("bad.tgt");
  std::string ss, tt;
  for (int i = 0; i < 20; ++i) ss += words(i, false) + "\n", tt += words(i, true) + "\n";
  ss += "\n" "x \xff y\n" "one two three four five six\n";
  tt += "A\nB\nC\n";
  write_file(s, ss);
  write_file(t, tt);
  const CliRun r = run_cli(c.dir, c.args(s, t) + " --skip-bad-lines --max-line-tokens 5");
  CHECK(r.status == 0);
  CHECK(contains(r.err, "warning: skipped 3 bad training pairs"));
  CHECK(contains(r.err, "bad.src:21: empty line"));
}

TEST_CASE("train on files, translate, eval --out, bleu and resume work end to end", "[cli-corpus]") {
  Corpus c;
  const auto model = c.dir.file("m.h5");
  CliRun r = run_cli(c.dir, c.args(c.src, c.tgt) + " --test-src " + quote(c.src) + " --test-tgt " + quote(c.tgt) +
                            " --beam 2 --metrics-json " + quote(c.dir.file("m.json")));
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "test (40 pairs, beam 2): BLEU = "));
  const auto j = nlohmann::json::parse(read_file(c.dir.file("m.json")));
  CHECK(j["valid_bleu_curve"].size() >= 1);
  CHECK(j["test"]["bleu"].get<double>() >= 0);

  r = run_cli(c.dir, "translate --model " + quote(model) + " --beam 2 --length-penalty 0.6 --max-len-ratio 1.5",
             "red blue cat\n\ndog sun moon\n");
  CHECK(r.status == 0);
  CHECK(lines_of(r.out).size() == 3);

  const auto out = c.dir.file("hyp.txt");
  r = run_cli(c.dir, "eval --model " + quote(model) + " --src " + quote(c.src) + " --ref " + quote(c.tgt) +
                        " --beam 2 --out " + quote(out) + " --metrics-json " + quote(c.dir.file("e.json")));
  REQUIRE(r.status == 0);
  CHECK(contains(r.out, "BLEU = "));
  CHECK(contains(r.out, "lines           40"));
  CHECK(lines_of(read_file(out)).size() == 40);
  CHECK(nlohmann::json::parse(read_file(c.dir.file("e.json")))["lines"] == 40);
  {
    // chrF2 next to BLEU, the value `attend bleu --metrics chrf` gives on the same output.
    CHECK(contains(r.out, "chrF2 = "));
    const CliRun m = run_cli(c.dir, "bleu --hyp " + quote(out) + " --ref " + quote(c.tgt) + " --metrics chrf");
    REQUIRE(m.status == 0);
    CHECK(contains(r.out, lines_of(m.out)[0]));
    CHECK(nlohmann::json::parse(read_file(c.dir.file("e.json"))).contains("chrf"));
  }

  r = run_cli(c.dir, "bleu --hyp " + quote(out) + " --ref " + quote(c.tgt) + " -lc");
  CHECK(r.status == 0);
  CHECK(contains(r.out, "BLEU = "));

  // Resume: continues from the saved step (4) to --steps 8.
  r = run_cli(c.dir, "train --train-src " + quote(c.src) + " --train-tgt " + quote(c.tgt) + " --valid-src " +
                            quote(c.src) + " --valid-tgt " + quote(c.tgt) + " --batch 8 -q --resume " + quote(model) +
                            " --steps 8 --metrics-json " + quote(c.dir.file("r.json")));
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(nlohmann::json::parse(read_file(c.dir.file("r.json")))["steps"] == 8);
  r = run_cli(c.dir, "train --resume " + quote(c.dir.file("nope.h5")));
  CHECK(r.status == 2);
}

TEST_CASE("the spm tokenizer trains SentencePiece, stores it in the model and decodes text", "[cli-corpus]") {
  Corpus c(60);
  const auto model = c.dir.file("m.h5");
  CliRun r = run_cli(c.dir, c.args(c.src, c.tgt) + " --tokenizer spm --spm-vocab 60 --shared-vocab");
  INFO(r.err);
  REQUIRE(r.status == 0);
  r = run_cli(c.dir, "translate --model " + quote(model), "red blue cat\n");
  CHECK(r.status == 0);
  REQUIRE(lines_of(r.out).size() == 1);
  CHECK(!contains(r.out, "\xe2\x96\x81"));  // no SentencePiece "▁" left in the output
}

TEST_CASE("tied embeddings with a shared vocabulary make source, target and output embeddings one matrix",
          "[cli-corpus]") {
  Corpus c(60);
  const std::string transformer =
      " --encoder transformer --decoder transformer --self-layers 1 --ffn 16 --self-heads 2 --heads 2";
  CliRun r = run_cli(c.dir, c.args(c.src, c.tgt) + transformer + " --shared-vocab --tie-embeddings");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const attend::ModelBundle b = attend::load_model(c.dir.file("m.h5"));
  CHECK(b.model->config().share_embeddings);
  CHECK(b.model->params().find("decoder.embedding.weight") < 0);
  CHECK(b.model->params().find("decoder.out.weight") < 0);
  r = run_cli(c.dir, "translate --model " + quote(c.dir.file("m.h5")), "red blue cat\n");
  CHECK(r.status == 0);

  r = run_cli(c.dir, c.args(c.src, c.tgt) + transformer + " --tie-embeddings");  // two vocabularies
  REQUIRE(r.status == 0);
  CHECK_FALSE(attend::load_model(c.dir.file("m.h5")).model->config().share_embeddings);

  r = run_cli(c.dir, c.args(c.src, c.tgt) + transformer + " --share-embeddings");
  CHECK(r.status == 2);
  CHECK(contains(r.err, "add --shared-vocab"));
}

TEST_CASE("the shared eng-fra corpus reads cleanly (skipped without ../shared/data)", "[cli-corpus]") {
  const std::string dir = std::string(ATTEND_FIXTURE_DIR) + "/../../../shared/data/eng-fra";
  if (!fs::exists(dir + "/valid.fr")) {
    WARN("skipped: " << dir << " is absent");
    return;
  }
  const auto c = attend::read_parallel(dir + "/valid.fr", dir + "/valid.en");
  CHECK(c.size() == 537);
  CHECK(c.skipped == 0);
}
