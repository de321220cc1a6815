#include "attend/text/corpus.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "attend/core/error.hpp"

namespace attend {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void chomp(std::string& line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
}

// Splits `text` at '\n' into `lines`; a final line without '\n' counts too.
void split_lines(const std::string& text, std::vector<std::string>& lines) {
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.emplace_back(text, start, end - start);
    chomp(lines.back());
    start = end + 1;
  }
}

std::vector<std::string> read_gzip_lines(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::string text;
  char buf[1 << 16];
  int n;
  bool checked = false;
  while ((n = gzread(f, buf, sizeof buf)) > 0) {
    if (!checked) {
      checked = true;
      if (gzdirect(f)) {
        gzclose(f);
        throw Error(path + ": not gzip data (the name ends in .gz but the file is not compressed)");
      }
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  if (n < 0) {
    int code = 0;
    const std::string reason = gzerror(f, &code);
    gzclose(f);
    std::size_t complete = 0;
    for (char c : text) complete += c == '\n';
    throw Error(path + ": corrupt gzip data after line " + std::to_string(complete) + " (" +
                reason + ")");
  }
  if (!checked && gzdirect(f) && !text.empty()) {
    gzclose(f);
    throw Error(path + ": not gzip data");
  }
  const int rc = gzclose(f);
  if (rc != Z_OK)
    throw Error(path + ": corrupt gzip data (" +
                std::string(rc == Z_BUF_ERROR ? "truncated file" : "error closing the stream") + ")");
  std::vector<std::string> lines;
  split_lines(text, lines);
  return lines;
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

std::vector<std::string> read_text_lines(const std::string& path) {
  if (ends_with(path, ".gz")) return read_gzip_lines(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    chomp(line);
    lines.push_back(std::move(line));
  }
  if (in.bad()) throw Error(path + ": read error after line " + std::to_string(lines.size()));
  return lines;
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
  return out;
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
  const std::vector<std::string> src = read_text_lines(src_path);
  const std::vector<std::string> tgt = read_text_lines(tgt_path);
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
  const std::vector<std::string> lines = read_text_lines(path);
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
