// Parallel corpus reading: plain and gzip files, line-level checks, skip_bad_lines, text options.
#include <attend/text/corpus.hpp>
#include <attend/core/error.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "support.hpp"

namespace fs = std::filesystem;

namespace {

// A temporary directory that writes named files and returns their paths.
struct Dir : attend::test::TempDir {
  std::string write(const std::string& name, const std::string& content) const {
    attend::test::write_file(file(name), content);
    return file(name);
  }
  std::string write_gz(const std::string& name, const std::string& content) const {
    attend::test::write_gz_file(file(name), content);
    return file(name);
  }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const attend::Error& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("read_parallel reads plain files, CRLF included", "[corpus]") {
  Dir d;
  const auto s = d.write("a.fr", "un\r\ndeux trois\n");
  const auto t = d.write("a.en", "one\ntwo three");  // no final newline
  const auto c = attend::read_parallel(s, t);
  REQUIRE(c.size() == 2);
  CHECK(c.src[0] == "un");
  CHECK(c.tgt[1] == "two three");
  CHECK(c.line_numbers == std::vector<std::size_t>{1, 2});
  CHECK(c.skipped == 0);
}

TEST_CASE("read_parallel reads .gz files", "[corpus]") {
  Dir d;
  const auto s = d.write_gz("a.de.gz", "Zwei Männer\nein Hund\n");
  const auto t = d.write("a.en", "two men\na dog\n");
  const auto c = attend::read_parallel(s, t);
  REQUIRE(c.size() == 2);
  CHECK(c.src[0] == "Zwei Männer");
}

TEST_CASE("file-level problems name the file", "[corpus]") {
  Dir d;
  const auto t = d.write("a.en", "one\ntwo\n");
  CHECK(has(error_of([&] { attend::read_parallel(d.file("none.fr"), t); }), "none.fr: cannot open"));
  const auto fake = d.write("fake.gz", "this is not gzip\n");
  CHECK(has(error_of([&] { attend::read_parallel(fake, t); }), "fake.gz: not gzip data"));
  // A truncated gzip stream.
  const auto good = d.write_gz("good.gz", std::string(5000, 'x') + "\n" + std::string(5000, 'y') + "\n");
  std::ifstream in(good, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto cut = d.write("cut.gz", bytes.substr(0, bytes.size() / 2));
  CHECK(has(error_of([&] { attend::read_parallel(cut, t); }), "cut.gz: corrupt gzip data"));
  const auto three = d.write("b.fr", "un\ndeux\ntrois\n");
  const std::string e = error_of([&] { attend::read_parallel(three, t); });
  CHECK(has(e, "b.fr' has 3 lines"));
  CHECK(has(e, "a.en' has 2"));
}

TEST_CASE("line-level problems name file and line, or are skipped and counted", "[corpus]") {
  Dir d;
  const auto s = d.write("s.txt", "good one\n\nbad \xC3\x28 utf8\nfine\nfour five six seven\n");
  const auto t = d.write("t.txt", "a\nb\nc\n   \nd\n");
  attend::CorpusOptions o;
  o.max_src_tokens = 3;
  CHECK(has(error_of([&] { attend::read_parallel(s, t, o); }), "s.txt:2: empty line"));
  o.skip_bad_lines = true;
  const auto c = attend::read_parallel(s, t, o);
  CHECK(c.size() == 1);
  CHECK(c.src[0] == "good one");
  CHECK(c.skipped == 4);
  REQUIRE(c.problems.size() == 4);
  CHECK(has(c.problems[0], "s.txt:2"));
  CHECK(has(c.problems[1], "s.txt:3: invalid UTF-8 at byte 5"));
  CHECK(has(c.problems[2], "t.txt:4: empty line"));
  CHECK(has(c.problems[3], "s.txt:5: line too long: 4 tokens, the limit is 3"));
}

TEST_CASE("a custom length function sets what a token is", "[corpus]") {
  Dir d;
  const auto s = d.write("s.txt", "abcdef\n");
  const auto t = d.write("t.txt", "x\n");
  attend::CorpusOptions o;
  o.max_src_tokens = 5;
  CHECK_NOTHROW(attend::read_parallel(s, t, o));  // one word
  o.src_length = [](const std::string& l) { return l.size(); };
  CHECK(has(error_of([&] { attend::read_parallel(s, t, o); }), "s.txt:1: line too long: 6 tokens"));
}

TEST_CASE("lower-casing and whitespace normalisation only when asked", "[corpus]") {
  CHECK(attend::utf8_lowercase("Zwei MÄNNER Ÿ ŁÓDŹ ΑΒΓ ДОМ İ 3×") == "zwei männer ÿ łódź αβγ дом İ 3×");
  CHECK(attend::normalize_whitespace("  a \t b\xC2\xA0 c  ") == "a b c");
  Dir d;
  const auto s = d.write("s.txt", "  Der  Hund \n");
  const auto t = d.write("t.txt", "The Dog\n");
  CHECK(attend::read_parallel(s, t).src[0] == "  Der  Hund ");
  attend::CorpusOptions o;
  o.text.lowercase = o.text.normalize = true;
  const auto c = attend::read_parallel(s, t, o);
  CHECK(c.src[0] == "der hund");
  CHECK(c.tgt[0] == "the dog");
}

TEST_CASE("read_monolingual allows empty lines when asked", "[corpus]") {
  Dir d;
  const auto p = d.write("h.txt", "a\n\nb\n");
  CHECK(has(error_of([&] { attend::read_monolingual(p); }), "h.txt:2: empty line"));
  CHECK(attend::read_monolingual(p, 0, {}, false, {}, true).lines.size() == 3);
}
