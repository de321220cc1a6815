// chrF, chrF++ and TER against the values published in sacreBLEU's own test suite
// (github.com/mjpost/sacrebleu, test/test_chrf.py and test/test_ter.py), to the tolerance those
// tests use; where sacreBLEU publishes no value (chrF++, several references) the expected
// figures are worked out by hand from the definitions.
#include <attend/core/error.hpp>
#include <attend/eval/chrf.hpp>
#include <attend/eval/ter.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

using Lines = std::vector<std::string>;

struct Case {
  Lines hyps, refs;
  double expected;
};

double chrf(const Lines& hyps, const Lines& refs, attend::ChrfOptions o) {
  return attend::corpus_chrf(hyps, {refs}, o).score;
}

attend::ChrfOptions beta3(bool eps_smoothing, bool whitespace = false) {
  attend::ChrfOptions o;
  o.beta = 3;
  o.eps_smoothing = eps_smoothing;
  o.whitespace = whitespace;
  return o;
}

}  // namespace

TEST_CASE("chrF with epsilon smoothing matches sacreBLEU's test_chrf cases to 1e-4", "[metrics]") {
  // test/test_chrf.py, test_cases run by test_chrf (char_order 6, word_order 0, beta 3,
  // eps_smoothing=True): empty hypotheses, no overlap, whitespace runs, non-ASCII letters.
  const std::vector<Case> cases = {
      {{"abcdefg"}, {"hijklmnop"}, 0.0},
      {{"a"}, {"b"}, 0.0},
      {{""}, {"b"}, 0.0},
      {{""}, {"ref"}, 0.0},
      {{""}, {"reference"}, 0.0},
      {{"aa"}, {"ab"}, 8.3333},
      {{"a", "b"}, {"a", "c"}, 8.3333},
      {{"a"}, {"a"}, 16.6667},
      {{"a b c"}, {"a b c"}, 50.0},
      {{"a b c"}, {"abc"}, 50.0},
      {{" risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."},
       {"risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."},
       63.361730},
      {{" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. "},
       {"Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."}, 64.1302698},
      {{"Niemand hat die Absicht, eine Mauer zu errichten"},
       {"Niemand hat die Absicht, eine Mauer zu errichten"}, 100.0},
  };
  for (const auto& c : cases) {
    INFO(c.hyps[0] << " | " << c.refs[0]);
    CHECK(std::abs(chrf(c.hyps, c.refs, beta3(true)) - c.expected) < 1e-4);
  }
}

TEST_CASE("chrF with effective-order averaging matches sacreBLEU's test_chrf_eff_order to 1e-4",
          "[metrics]") {
  // test/test_chrf.py, test_cases_effective_order (beta 3, eps_smoothing=False: the default).
  const std::vector<Case> cases = {
      {{"a"}, {"a"}, 100.0},       {{""}, {"reference"}, 0.0}, {{"a b c"}, {"a b c"}, 100.0},
      {{"a b c"}, {"abc"}, 100.0}, {{""}, {"c"}, 0.0},         {{"a", "b"}, {"a", "c"}, 50.0},
      {{"aa"}, {"ab"}, 25.0},
  };
  for (const auto& c : cases) {
    INFO(c.hyps[0] << " | " << c.refs[0]);
    CHECK(std::abs(chrf(c.hyps, c.refs, beta3(false)) - c.expected) < 1e-4);
  }
}

TEST_CASE("chrF keeping whitespace matches sacreBLEU's test_chrf_keep_whitespace to 1e-4", "[metrics]") {
  // test/test_chrf.py, test_cases_keep_whitespace (beta 3, remove_whitespace=False).
  CHECK(std::abs(chrf({"Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich."},
                      {"Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."},
                      beta3(false, true)) -
                 67.3481606) < 1e-4);
  CHECK(std::abs(chrf({"risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."},
                      {"risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."},
                      beta3(false, true)) -
                 65.2414427) < 1e-4);
}

TEST_CASE("sentence chrF2 of Czech sentences matches sacreBLEU's test_chrf_sentence_level to 1e-4",
          "[metrics]") {
  // test/test_chrf.py, test_sentence_level_chrf (sentence_chrf: beta 2, eps_smoothing=True).
  const std::vector<Case> cases = {
      {{"Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře."},
       {"Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře."},
       39.14078509},
      {{"Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři."},
       {"A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři."}, 31.22557079},
      {{"Lapali po dechu, jejich životy skončily dřív, než skutečně začaly."},
       {"Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli."},
       57.15704367},
  };
  attend::ChrfOptions o;
  o.eps_smoothing = true;
  for (const auto& c : cases) {
    INFO(c.hyps[0]);
    CHECK(std::abs(chrf(c.hyps, c.refs, o) - c.expected) < 1e-4);
  }
}

TEST_CASE("chrF sums the statistics of the corpus and reports them per order", "[metrics]") {
  // "aa" | "ab", "b" | "c": order 1 has 3 hypothesis, 3 reference characters and 1 match;
  // order 2 exists only in the first sentence (1, 1, 0); orders 3-6 are empty.
  const auto s = attend::corpus_chrf({"aa", "b"}, {{"ab", "c"}});
  REQUIRE(s.statistics.size() == 6);
  CHECK(s.statistics[0] == std::array<std::size_t, 3>{3, 3, 1});
  CHECK(s.statistics[1] == std::array<std::size_t, 3>{1, 1, 0});
  CHECK(s.statistics[2] == std::array<std::size_t, 3>{0, 0, 0});
  // Effective order 2: precision and recall average to 1/6, so F2 = 1/6.
  CHECK(s.score == Approx(100.0 / 6).epsilon(1e-12));
  CHECK(s.format() == "chrF2 = 16.67");
}

TEST_CASE("chrF++ adds word unigrams and bigrams after splitting punctuation off words", "[metrics]") {
  // By hand: characters "abcd" | "abce" give precision = recall 3/4, 2/3, 1/2, 0 at orders 1-4;
  // words "ab cd" | "ab ce" give 1/2 and 0. chrF2 averages four orders, chrF2++ six.
  attend::ChrfOptions plus;
  plus.word_order = 2;
  const auto c = attend::corpus_chrf({"ab cd"}, {{"ab ce"}});
  const auto cpp = attend::corpus_chrf({"ab cd"}, {{"ab ce"}}, plus);
  CHECK(c.score == Approx(100 * (0.75 + 2.0 / 3 + 0.5) / 4).epsilon(1e-12));
  CHECK(cpp.score == Approx(100 * (0.75 + 2.0 / 3 + 0.5 + 0.5) / 6).epsilon(1e-12));
  REQUIRE(cpp.statistics.size() == 8);
  CHECK(cpp.statistics[6] == std::array<std::size_t, 3>{2, 2, 1});
  CHECK(cpp.statistics[7] == std::array<std::size_t, 3>{1, 1, 0});
  CHECK(cpp.name() == "chrF2++");
  CHECK(cpp.format().rfind("chrF2++ = 40.28", 0) == 0);
  // "hi." is the words "hi" and "." like "hi ." (a lone mark stays one word).
  CHECK(attend::corpus_chrf({"hi."}, {{"hi ."}}, plus).score == Approx(100));
}

TEST_CASE("chrF takes the best reference per sentence by that sentence's score", "[metrics]") {
  const auto one = attend::corpus_chrf({"a b c", "xyz"}, {{"a b c", "xyw"}});
  const auto two = attend::corpus_chrf({"a b c", "xyz"}, {{"q r s", "xyw"}, {"a b c", "zzz"}});
  CHECK(two.statistics == one.statistics);
  CHECK(two.score == one.score);
  CHECK_THROWS_AS(attend::corpus_chrf({"a"}, {}), attend::Error);
  CHECK_THROWS_AS(attend::corpus_chrf({"a"}, {{"a"}, {}}), attend::Error);
}

TEST_CASE("TER matches sacreBLEU's test_ter cases to 1e-3", "[metrics]") {
  // test/test_ter.py, test_cases run by test_ter (TER() defaults): perfect match, no overlap,
  // empty hypothesis, empty reference, both empty, one shift, and five WMT 2019 dev sentences.
  const std::vector<Case> cases = {
      {{"aaaa bbbb cccc dddd"}, {"aaaa bbbb cccc dddd"}, 0},
      {{"dddd eeee ffff"}, {"aaaa bbbb cccc"}, 1},
      {{""}, {"a"}, 1},
      {{"a"}, {""}, 1},
      {{""}, {""}, 0},
      {{"d e f g h a b c"}, {"a b c d e f g h"}, 1.0 / 8},
      {{"wählen Sie \" Bild neu berechnen , \" um beim Ändern der Bildgröße Pixel hinzuzufügen oder zu entfernen , damit das Bild ungefähr dieselbe Größe aufweist wie die andere Größe .",
        "wenn Sie alle Aufgaben im aktuellen Dokument aktualisieren möchten , wählen Sie im Menü des Aufgabenbedienfelds die Option \" Alle Aufgaben aktualisieren . \"",
        "klicken Sie auf der Registerkarte \" Optionen \" auf die Schaltfläche \" Benutzerdefiniert \" und geben Sie Werte für \" Fehlerkorrektur-Level \" und \" Y / X-Verhältnis \" ein .",
        "Sie können beispielsweise ein Dokument erstellen , das ein Auto über die Bühne enthält .",
        "wählen Sie im Dialogfeld \" Neu aus Vorlage \" eine Vorlage aus und klicken Sie auf \" Neu . \""},
       {"wählen Sie \" Bild neu berechnen , \" um beim Ändern der Bildgröße Pixel hinzuzufügen oder zu entfernen , damit die Darstellung des Bildes in einer anderen Größe beibehalten wird .",
        "wenn Sie alle Aufgaben im aktuellen Dokument aktualisieren möchten , wählen Sie im Menü des Aufgabenbedienfelds die Option \" Alle Aufgaben aktualisieren . \"",
        "klicken Sie auf der Registerkarte \" Optionen \" auf die Schaltfläche \" Benutzerdefiniert \" und geben Sie für \" Fehlerkorrektur-Level \" und \" Y / X-Verhältnis \" niedrigere Werte ein .",
        "Sie können beispielsweise ein Dokument erstellen , das ein Auto enthalt , das sich über die Bühne bewegt .",
        "wählen Sie im Dialogfeld \" Neu aus Vorlage \" eine Vorlage aus und klicken Sie auf \" Neu . \""},
       0.136},
  };
  for (const auto& c : cases) {
    INFO(c.hyps[0] << " | " << c.refs[0]);
    CHECK(std::abs(attend::corpus_ter(c.hyps, {c.refs}).score - 100 * c.expected) < 1e-3);
  }
}

TEST_CASE("TER counts a block shift as one edit and reports its statistics", "[metrics]") {
  const auto s = attend::corpus_ter({"d e f g h a b c"}, {{"a b c d e f g h"}});
  CHECK(s.num_edits == 1);
  CHECK(s.ref_length == 8);
  CHECK(s.format() == "TER = 12.50");
  CHECK(attend::ter_edits({"a", "b"}, {}) == 2);
}

TEST_CASE("TER ignores case unless asked and can drop punctuation as sacreBLEU's tokenizer does",
          "[metrics]") {
  // test/test_tokenizer_ter.py: "A B C D." tokenises to "a b c d." by default, and
  // "A ; B ) C : D." to "a b c d" with no_punct.
  CHECK(attend::corpus_ter({"A B C D."}, {{"a b c d."}}).score == 0);
  attend::TerOptions cased;
  cased.case_sensitive = true;
  CHECK(attend::corpus_ter({"A b c d."}, {{"a b c d."}}, cased).score == Approx(25));
  attend::TerOptions no_punct;
  no_punct.no_punct = true;
  CHECK(attend::corpus_ter({"A ; B ) C : D."}, {{"a b c d"}}, no_punct).score == 0);
}

TEST_CASE("TER takes the fewest edits over the references and their average length", "[metrics]") {
  // Edits: 0 against "a b c", 4 against "x y z w"; lengths average to 3.5.
  const auto s = attend::corpus_ter({"a b c"}, {{"a b c"}, {"x y z w"}});
  CHECK(s.num_edits == 0);
  CHECK(s.ref_length == 3.5);
  const auto t = attend::corpus_ter({"a b c", "p q"}, {{"x y z w", "p q"}, {"a b d", "p r s"}});
  CHECK(t.num_edits == 1);
  CHECK(t.ref_length == Approx(3.5 + 2.5));
  CHECK_THROWS_AS(attend::corpus_ter({"a"}, {}), attend::Error);
}

TEST_CASE("attend bleu --metrics prints one sacreBLEU-style line per metric and one JSON object each",
          "[metrics][cli]") {
  attend::test::TempDir dir;
  const auto hyp = dir.file("hyp.txt"), ref = dir.file("ref.txt"), json = dir.file("m.json");
  attend::test::write_file(hyp, "d e f g h a b c\n");
  attend::test::write_file(ref, "a b c d e f g h\n");
  const std::string files = "bleu --hyp " + attend::test::quote(hyp) + " --ref " + attend::test::quote(ref);

  auto r = attend::test::run_cli(dir, files + " --metrics-json " + attend::test::quote(json));
  REQUIRE(r.status == 0);
  CHECK(attend::test::lines_of(r.out).size() == 1);
  CHECK(r.out.rfind("BLEU = ", 0) == 0);
  // BLEU alone keeps its one object with the same fields.
  auto j = nlohmann::json::parse(attend::test::read_file(json));
  REQUIRE(j.is_object());
  std::vector<std::string> keys;
  for (const auto& item : j.items()) keys.push_back(item.key());
  CHECK(keys == std::vector<std::string>{"bp", "case", "counts", "hyp_len", "name", "nrefs", "precisions",
                                         "ratio", "ref_len", "score", "smooth", "tok", "totals"});

  r = attend::test::run_cli(dir, files + " --metrics bleu,chrf,chrf++,ter --metrics-json " +
                                     attend::test::quote(json));
  REQUIRE(r.status == 0);
  const auto lines = attend::test::lines_of(r.out);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0].rfind("BLEU = ", 0) == 0);
  CHECK(lines[1] == attend::corpus_chrf({"d e f g h a b c"}, {{"a b c d e f g h"}}).format());
  CHECK(lines[2].rfind("chrF2++ = ", 0) == 0);
  CHECK(lines[3] == "TER = 12.50");
  j = nlohmann::json::parse(attend::test::read_file(json));
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 4);
  CHECK(j[1]["name"] == "chrF2");
  CHECK(j[1]["nc"] == 6);
  CHECK(j[2]["name"] == "chrF2++");
  CHECK(j[2]["nw"] == 2);
  CHECK(j[3]["name"] == "TER");
  CHECK(j[3]["num_edits"] == 1);
  CHECK(j[3]["case"] == "lc");
}

TEST_CASE("attend bleu with an unknown metric exits 2 naming the valid ones", "[metrics][cli]") {
  attend::test::TempDir dir;
  const auto hyp = dir.file("hyp.txt");
  attend::test::write_file(hyp, "a b\n");
  const auto r = attend::test::run_cli(dir, "bleu --hyp " + attend::test::quote(hyp) + " --ref " +
                                                attend::test::quote(hyp) + " --metrics bleu,meteor");
  CHECK(r.status == 2);
  CHECK(attend::test::contains(r.err, "meteor"));
  CHECK(attend::test::contains(r.err, "bleu, chrf, chrf++, ter"));
  CHECK(r.out.empty());
}

namespace {

// 60 reference lines and two systems: `good` equals the references, `bad` drops the last two
// words of every line.
struct PairedFiles {
  attend::test::TempDir dir;
  std::string ref = dir.file("ref.txt"), good = dir.file("good.txt"), bad = dir.file("bad.txt");
  PairedFiles() {
    std::string r, g, b;
    for (int i = 0; i < 60; ++i) {
      const std::string w = "w" + std::to_string(i);
      r += "the " + w + " cat sat on the mat today\n";
      g += "the " + w + " cat sat on the mat today\n";
      b += "the " + w + " cat sat on the\n";
    }
    attend::test::write_file(ref, r);
    attend::test::write_file(good, g);
    attend::test::write_file(bad, b);
  }
  std::string command(const std::string& hyp, const std::string& base) const {
    return "bleu --hyp " + attend::test::quote(hyp) + " --ref " + attend::test::quote(ref) + " --paired-bootstrap " +
           attend::test::quote(base);
  }
};

}  // namespace

TEST_CASE("bleu --paired-bootstrap of a system against itself finds no difference", "[cli][bleu][bootstrap]") {
  const PairedFiles f;
  const auto r = attend::test::run_cli(f.dir, f.command(f.bad, f.bad) + " --metrics-json " +
                                                  attend::test::quote(f.dir.file("m.json")));
  REQUIRE(r.status == 0);
  CHECK(attend::test::contains(r.out, "BLEU +0.00 (p 1.000), chrF2 +0.00 (p 1.000)"));
  const auto j = nlohmann::json::parse(attend::test::read_file(f.dir.file("m.json")));
  REQUIRE(j.is_array());
  CHECK(j[1].at("bleu_delta") == 0.0);
  CHECK(j[1].at("bleu_p") == 1.0);
}

TEST_CASE("bleu --paired-bootstrap separates a system equal to the references from a truncated one",
          "[cli][bleu][bootstrap]") {
  const PairedFiles f;
  const auto r = attend::test::run_cli(f.dir, f.command(f.good, f.bad) + " --metrics-json " +
                                                  attend::test::quote(f.dir.file("m.json")));
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(attend::test::read_file(f.dir.file("m.json")));
  CHECK(j[1].at("bleu_delta").get<double>() > 10);
  CHECK(j[1].at("bleu_p").get<double>() < 0.01);
  CHECK(j[1].at("chrf_delta").get<double>() > 10);
  CHECK(j[1].at("chrf_p").get<double>() < 0.01);
  // The other way round: the same difference, negative.
  const auto back = attend::test::run_cli(f.dir, f.command(f.bad, f.good) + " --metrics-json " +
                                                     attend::test::quote(f.dir.file("n.json")));
  REQUIRE(back.status == 0);
  const auto k = nlohmann::json::parse(attend::test::read_file(f.dir.file("n.json")));
  CHECK(k[1].at("bleu_delta").get<double>() == Approx(-j[1].at("bleu_delta").get<double>()));
}

TEST_CASE("bleu --paired-bootstrap refuses a baseline of another line count and several references",
          "[cli][bleu][bootstrap]") {
  const PairedFiles f;
  attend::test::write_file(f.dir.file("short.txt"), "the cat\n");
  auto r = attend::test::run_cli(f.dir, f.command(f.good, f.dir.file("short.txt")));
  CHECK(r.status == 2);
  CHECK(attend::test::contains(r.err, "short.txt"));
  r = attend::test::run_cli(f.dir, f.command(f.good, f.bad) + " --ref " + attend::test::quote(f.ref));
  CHECK(r.status == 2);
  CHECK(attend::test::contains(r.err, "one --ref"));
}
