// Parallel corpus reading: plain and gzip files, line-level checks, skip_bad_lines, text options.
#include <attend/text/corpus.hpp>
#include <attend/core/error.hpp>
#include <sys/stat.h>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
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

TEST_CASE("read_parallel reads streams as it reads the files holding the same bytes", "[corpus]") {
  Dir d;
  const std::string src = "ein Hund\r\nzwei\n\nletzte", tgt = "a dog\r\ntwo\nx\nlast";
  const auto s = d.write("s.txt", src);
  const auto t = d.write("t.txt", tgt);
  attend::CorpusOptions o;
  o.skip_bad_lines = true;
  const auto from_files = attend::read_parallel(s, t, o);
  std::istringstream src_in(src), tgt_in(tgt);
  const auto from_streams = attend::read_parallel(src_in, s, tgt_in, t, o);
  CHECK(from_streams.src == from_files.src);
  CHECK(from_streams.tgt == from_files.tgt);
  CHECK(from_streams.line_numbers == from_files.line_numbers);
  CHECK(from_streams.problems == from_files.problems);
  CHECK(from_files.src == std::vector<std::string>{"ein Hund", "zwei", "letzte"});
  CHECK(from_files.problems == std::vector<std::string>{s + ":3: empty line"});
}

TEST_CASE("a .gz name reads a stream through zlib", "[corpus]") {
  Dir d;
  const auto gz = d.write_gz("a.gz", "eins\nzwei\n");
  std::ifstream file(gz, std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  CHECK(attend::read_text_lines(bytes, "memory.gz") == std::vector<std::string>{"eins", "zwei"});
  std::istringstream plain("not gzip\n");
  CHECK(has(error_of([&] { attend::read_text_lines(plain, "memory.gz"); }), "memory.gz: not gzip data"));
}

TEST_CASE("concatenated gzip members read as one file", "[corpus]") {
  Dir d;
  const std::string a = attend::test::read_file(d.write_gz("a.gz", "one\ntw"));
  const std::string b = attend::test::read_file(d.write_gz("b.gz", "o\nthree\n"));
  const auto both = d.write("both.gz", a + b);
  CHECK(attend::read_text_lines(both) == std::vector<std::string>{"one", "two", "three"});
}

TEST_CASE("a gzip file of highly compressible megabytes reads whole (output beyond one buffer)", "[corpus]") {
  Dir d;
  std::string text;
  for (int i = 0; i < 3000; ++i) text += std::string(997, static_cast<char>('a' + i % 26)) + "\n";
  text += std::string(300000, 'z');  // a last line without '\n', longer than a read buffer
  const auto gz = d.write_gz("big.gz", text);
  const auto plain = d.write("big.txt", text);
  const auto lines = attend::read_text_lines(gz);
  CHECK(lines.size() == 3001);
  CHECK(lines == attend::read_text_lines(plain));
  CHECK(lines.back() == std::string(300000, 'z'));
}

TEST_CASE("a directory or a FIFO as a corpus is refused by name without waiting", "[corpus]") {
  Dir d;
  const auto t = d.write("t.txt", "x\n");
  fs::create_directories(d.file("dir"));
  CHECK(has(error_of([&] { attend::read_parallel(d.file("dir"), t); }), "dir: is a directory"));
  REQUIRE(::mkfifo(d.file("fifo").c_str(), 0600) == 0);
  CHECK(has(error_of([&] { attend::read_parallel(t, d.file("fifo")); }), "fifo: not a regular file"));
  CHECK(has(error_of([&] { attend::read_monolingual(d.file("fifo")); }), "fifo: not a regular file"));
}

TEST_CASE("a line longer than kMaxLineBytes is refused naming file and line", "[corpus]") {
  Dir d;
  const std::string fits(attend::kMaxLineBytes, 'a'), too_long(attend::kMaxLineBytes + 1, 'a');
  CHECK(attend::read_text_lines(d.write("fits.txt", "x\n" + fits + "\r\n")).at(1) == fits);
  CHECK(has(error_of([&] { attend::read_text_lines(d.write("long.txt", "x\n" + too_long + "\ny\n")); }),
            "long.txt:2: line longer than 1048576 bytes"));
  CHECK(has(error_of([&] { attend::read_text_lines(d.write_gz("long.gz", too_long)); }),
            "long.gz:1: line longer than"));
}
