#include "attend/text/corpus.hpp"

#include <zlib.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <istream>

#include "attend/core/error.hpp"

namespace attend {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Cuts a byte stream into lines at '\n', a chunk at a time; a final line without '\n' counts too,
// and a trailing '\r' is dropped from each line.
// A line longer than kMaxLineBytes is refused as soon as it is seen, so a file without newlines
// (or with one enormous line) costs no more memory than that before the error.
class LineSplitter {
 public:
  explicit LineSplitter(const std::string& name) : name_(name) {}
  void feed(const char* data, std::size_t n) {
    while (n) {
      const void* nl = std::memchr(data, '\n', n);
      const std::size_t take = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - data) : n;
      if (line_.size() + take > kMaxLineBytes + 1) too_long();  // + 1: a CRLF line's '\r'
      line_.append(data, take);
      if (!nl) return;
      end_line();
      data += take + 1;
      n -= take + 1;
    }
  }
  std::vector<std::string> finish() {
    if (!line_.empty()) end_line();
    return std::move(lines_);
  }
  std::size_t complete_lines() const { return lines_.size(); }

 private:
  [[noreturn]] void too_long() const {
    throw Error(name_ + ":" + std::to_string(lines_.size() + 1) + ": line longer than " +
                std::to_string(kMaxLineBytes) + " bytes (one sentence per line is expected)");
  }
  void end_line() {
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.size() > kMaxLineBytes) too_long();
    lines_.push_back(std::move(line_));
    line_.clear();
  }
  const std::string& name_;
  std::string line_;
  std::vector<std::string> lines_;
};

constexpr std::size_t kChunk = 1 << 16;

// Reads up to kChunk bytes; false at the end of the stream.
bool read_chunk(std::istream& in, const std::string& name, std::vector<char>& buf, std::size_t& got,
                std::size_t lines_so_far) {
  in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
  got = static_cast<std::size_t>(in.gcount());
  if (in.bad()) throw Error(name + ": read error after line " + std::to_string(lines_so_far));
  return got > 0;
}

std::vector<std::string> read_plain_lines(std::istream& in, const std::string& name) {
  LineSplitter lines(name);
  std::vector<char> buf(kChunk);
  std::size_t got = 0;
  while (read_chunk(in, name, buf, got, lines.complete_lines())) lines.feed(buf.data(), got);
  return lines.finish();
}

// gzip data: one member or several concatenated (as `cat a.gz b.gz` makes); bytes after the last
// member that do not start another are ignored, as gzip(1) and zlib's gzread do.
std::vector<std::string> read_gzip_lines(std::istream& in, const std::string& name) {
  LineSplitter lines(name);
  std::vector<char> buf(kChunk), out(kChunk);
  std::size_t got = 0;
  if (!read_chunk(in, name, buf, got, 0)) return lines.finish();  // an empty file: no lines
  if (got < 2 || static_cast<unsigned char>(buf[0]) != 0x1f || static_cast<unsigned char>(buf[1]) != 0x8b)
    throw Error(name + ": not gzip data (the name ends in .gz but the file is not compressed)");
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) throw Error(name + ": cannot start zlib");
  const auto corrupt = [&](const std::string& reason) {
    inflateEnd(&z);
    return Error(name + ": corrupt gzip data after line " + std::to_string(lines.complete_lines()) +
                 " (" + reason + ")");
  };
  z.next_in = reinterpret_cast<Bytef*>(buf.data());
  z.avail_in = static_cast<uInt>(got);
  bool member_done = false, out_full = false;  // out_full: zlib may hold output for no more input
  for (;;) {
    if (z.avail_in == 0 && !out_full) {
      if (!read_chunk(in, name, buf, got, lines.complete_lines())) break;
      z.next_in = reinterpret_cast<Bytef*>(buf.data());
      z.avail_in = static_cast<uInt>(got);
    }
    if (member_done) {  // another member follows, or the rest is ignored
      if (z.next_in[0] != 0x1f) break;
      if (inflateReset(&z) != Z_OK) throw corrupt("cannot restart zlib");
      member_done = false;
    }
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&z, Z_NO_FLUSH);
    lines.feed(out.data(), out.size() - z.avail_out);
    out_full = z.avail_out == 0 && rc != Z_STREAM_END;
    if (rc == Z_STREAM_END) {
      member_done = true;
    } else if (rc != Z_OK && !(rc == Z_BUF_ERROR && z.avail_in == 0)) {
      throw corrupt(z.msg ? z.msg : "zlib error " + std::to_string(rc));
    }
  }
  if (!member_done) throw corrupt("truncated file");
  inflateEnd(&z);
  return lines.finish();
}

// Opens a regular file for reading. A directory, FIFO, socket or device is refused from its
// stat(2) entry, before open(2), which would wait for a FIFO's writer.
std::ifstream open_regular_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  if (S_ISDIR(st.st_mode)) throw Error(path + ": is a directory, not a text file");
  if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file (a FIFO, socket or device)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  return in;
}

bool is_ascii_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string problem_line(const std::string& path, std::size_t line, const std::string& what) {
  return path + ":" + std::to_string(line) + ": " + what;
}

// The first problem of one line, or "" when it is fine.
std::string check_line(const std::string& line, std::size_t max_tokens, const LineLength& length,
                       bool allow_empty) {
  const std::size_t bad = find_invalid_utf8(line);
  if (bad != std::string::npos)
    return "invalid UTF-8 at byte " + std::to_string(bad + 1) + " of the line";
  bool blank = true;
  for (unsigned char c : line) blank = blank && is_ascii_space(c);
  if (blank && !allow_empty) return "empty line";
  if (max_tokens) {
    const std::size_t n = length ? length(line) : count_words(line);
    if (n > max_tokens)
      return "line too long: " + std::to_string(n) + " tokens, the limit is " +
             std::to_string(max_tokens);
  }
  return "";
}

}  // namespace

std::vector<std::string> read_text_lines(std::istream& in, const std::string& name) {
  return ends_with(name, ".gz") ? read_gzip_lines(in, name) : read_plain_lines(in, name);
}

std::vector<std::string> read_text_lines(const std::string& path) {
  std::ifstream in = open_regular_file(path);
  return read_text_lines(in, path);
}

std::string normalize_whitespace(const std::string& text) {
  std::string out;
  bool pending_space = false;
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const bool nbsp = c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0xA0;
    if (is_ascii_space(c) || nbsp) {
      pending_space = !out.empty();
      i += nbsp ? 2 : 1;
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += static_cast<char>(c);
    ++i;
  }
  return out;
}

std::string apply_text_options(const std::string& line, const TextOptions& options) {
  std::string out = options.normalize ? normalize_whitespace(line) : line;
  if (options.lowercase) out = utf8_lowercase(out);
  return options.steps.empty() ? out : options.steps.apply(out);
}

TextOptions text_options_from_info(const std::map<std::string, std::string>& info) {
  TextOptions t;
  const auto flag = [&](const char* key) {
    const auto it = info.find(key);
    return it != info.end() && it->second == "1";
  };
  t.lowercase = flag("lowercase");
  t.normalize = flag("normalize");
  const auto steps = info.find("normalization");
  if (steps != info.end()) {
    try {
      t.steps = Normalizer::parse(steps->second);
    } catch (const Error& e) {
      throw Error(std::string("the model's recorded normalisation cannot be applied (written by a newer attend?): ") +
                  e.what());
    }
  }
  return t;
}

std::string describe_text_options(const TextOptions& options) {
  std::string s = options.normalize ? "whitespace" : "";
  if (options.lowercase) s += std::string(s.empty() ? "" : ",") + "lower";
  const std::string steps = options.steps.spec();
  if (!steps.empty()) s += (s.empty() ? "" : ",") + steps;
  return s;
}

std::size_t count_words(const std::string& line) {
  std::size_t n = 0;
  bool in_word = false;
  for (unsigned char c : line) {
    const bool space = is_ascii_space(c);
    n += !space && !in_word;
    in_word = !space;
  }
  return n;
}

ParallelCorpus read_parallel(const std::string& src_path, const std::string& tgt_path,
                             const CorpusOptions& options) {
  std::ifstream src = open_regular_file(src_path), tgt = open_regular_file(tgt_path);
  return read_parallel(src, src_path, tgt, tgt_path, options);
}

ParallelCorpus read_parallel(std::istream& src_in, const std::string& src_path, std::istream& tgt_in,
                             const std::string& tgt_path, const CorpusOptions& options) {
  const std::vector<std::string> src = read_text_lines(src_in, src_path);
  const std::vector<std::string> tgt = read_text_lines(tgt_in, tgt_path);
  if (src.size() != tgt.size())
    throw Error("line counts differ: '" + src_path + "' has " + std::to_string(src.size()) +
                " lines but '" + tgt_path + "' has " + std::to_string(tgt.size()) +
                "; line N of one must be the translation of line N of the other");
  ParallelCorpus c;
  c.src.reserve(src.size());
  c.tgt.reserve(tgt.size());
  for (std::size_t i = 0; i < src.size(); ++i) {
    std::string problem;
    const std::string ps = check_line(src[i], options.max_src_tokens, options.src_length, false);
    if (!ps.empty()) {
      problem = problem_line(src_path, i + 1, ps);
    } else {
      const std::string pt = check_line(tgt[i], options.max_tgt_tokens, options.tgt_length, false);
      if (!pt.empty()) problem = problem_line(tgt_path, i + 1, pt);
    }
    if (!problem.empty()) {
      if (!options.skip_bad_lines)
        throw Error(problem + " (use --skip-bad-lines to drop such pairs with a warning)");
      ++c.skipped;
      if (c.problems.size() < options.max_messages) c.problems.push_back(problem);
      continue;
    }
    c.src.push_back(apply_text_options(src[i], options.text));
    c.tgt.push_back(apply_text_options(tgt[i], options.text));
    c.line_numbers.push_back(i + 1);
  }
  return c;
}

MonoCorpus read_monolingual(const std::string& path, std::size_t max_tokens,
                            const LineLength& length, bool skip_bad_lines, const TextOptions& text,
                            bool allow_empty) {
  std::ifstream in = open_regular_file(path);
  return read_monolingual(in, path, max_tokens, length, skip_bad_lines, text, allow_empty);
}

MonoCorpus read_monolingual(std::istream& in, const std::string& path, std::size_t max_tokens,
                            const LineLength& length, bool skip_bad_lines, const TextOptions& text,
                            bool allow_empty) {
  const std::vector<std::string> lines = read_text_lines(in, path);
  MonoCorpus c;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string p = check_line(lines[i], max_tokens, length, allow_empty);
    if (!p.empty()) {
      const std::string problem = problem_line(path, i + 1, p);
      if (!skip_bad_lines)
        throw Error(problem + " (use --skip-bad-lines to drop such lines with a warning)");
      ++c.skipped;
      if (c.problems.size() < 5) c.problems.push_back(problem);
      continue;
    }
    c.lines.push_back(apply_text_options(lines[i], text));
    c.line_numbers.push_back(i + 1);
  }
  return c;
}

}  // namespace attend
