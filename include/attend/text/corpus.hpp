// Reading parallel text corpora: plain or gzip-compressed UTF-8 files, one sentence per line,
// line N of the source file being the translation of line N of the target file.
//
// Every problem is an attend::Error "FILE:LINE: problem" (or "FILE: problem" when no line applies).
// File-level problems (a missing or unreadable file, corrupt gzip data, different line counts)
// are always errors. Line-level problems (invalid UTF-8, an empty line, a line longer than the
// configured limit) are errors unless `skip_bad_lines` is on; then the pair is dropped and
// counted in ParallelCorpus::skipped, with the first few problems kept as messages.
#pragma once
#include <cstddef>
#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "attend/text/normalize.hpp"
#include "attend/text/utf8.hpp"

namespace attend {

// Longest line any corpus, reference or hypothesis file may hold: a sentence is far shorter, and
// the limit bounds the memory a file without newlines can take ("FILE:LINE: line longer than").
constexpr std::size_t kMaxLineBytes = 1 << 20;

// Lines of a text file; a name ending in ".gz" is read through zlib (concatenated gzip members
// too). A trailing '\r' is removed from each line (CRLF files). Throws Error for a missing or
// unreadable file, for a directory, FIFO, socket or device (refused without opening it, so a FIFO
// cannot block the reader), and for damaged gzip data ("FILE: corrupt gzip data after line N
// (<zlib's reason>)"). No UTF-8 check.
std::vector<std::string> read_text_lines(const std::string& path);

// The same on bytes from a stream: `name` stands for the file in messages and, ending in ".gz",
// says the bytes are gzip data. The path version opens the file and calls this one, and so do
// read_parallel and read_monolingual, so reading from memory (the fuzz targets) is the code
// path files take.
std::vector<std::string> read_text_lines(std::istream& in, const std::string& name);

// Collapses runs of whitespace (space, tab, CR, LF, VT, FF and U+00A0) to one space and trims
// both ends.
std::string normalize_whitespace(const std::string& text);

// Text transformations applied to every line after the checks, only when asked: first the two
// older switches (--normalize without steps, then --lowercase: utf8_lowercase), then the named
// steps of --normalize STEPS (normalize.hpp).
struct TextOptions {
  bool lowercase = false;
  bool normalize = false;  // normalize_whitespace
  Normalizer steps;
};
std::string apply_text_options(const std::string& line, const TextOptions& options);

// The text options a model was trained with, from its checkpoint's info.* entries: "lowercase"
// and "normalize" ("1"), "normalization" (Normalizer::spec()). Throws Error when the stored
// steps cannot be parsed (a model written by a newer attend).
TextOptions text_options_from_info(const std::map<std::string, std::string>& info);
// The whole normalisation as one spec ("whitespace,lower,<steps>"; "" for none): what a model
// applies, in the spelling of --normalize.
std::string describe_text_options(const TextOptions& options);

// Length of a line in the unit the limits are stated in (default: whitespace-separated words).
using LineLength = std::function<std::size_t(const std::string&)>;
std::size_t count_words(const std::string& line);

struct CorpusOptions {
  std::size_t max_src_tokens = 0;  // longer lines are bad lines; 0 = no limit
  std::size_t max_tgt_tokens = 0;
  LineLength src_length;           // empty = count_words
  LineLength tgt_length;
  bool skip_bad_lines = false;     // drop and count bad pairs instead of failing
  TextOptions text;
  std::size_t max_messages = 5;    // problems kept in ParallelCorpus::problems
};

struct ParallelCorpus {
  std::vector<std::string> src, tgt;  // the kept pairs, after TextOptions
  std::vector<std::size_t> line_numbers;  // 1-based line of each kept pair in the files
  std::size_t skipped = 0;            // bad pairs dropped (skip_bad_lines)
  std::vector<std::string> problems;  // the first max_messages problems, "FILE:LINE: problem"
  std::size_t size() const { return src.size(); }
};

ParallelCorpus read_parallel(const std::string& src_path, const std::string& tgt_path,
                             const CorpusOptions& options = {});
// From streams; the names stand for the files in messages (and say ".gz").
ParallelCorpus read_parallel(std::istream& src, const std::string& src_name, std::istream& tgt,
                             const std::string& tgt_name, const CorpusOptions& options = {});

// One side only (e.g. sources to translate, or references): the same checks, one file.
struct MonoCorpus {
  std::vector<std::string> lines;
  std::vector<std::size_t> line_numbers;
  std::size_t skipped = 0;
  std::vector<std::string> problems;
};
MonoCorpus read_monolingual(const std::string& path, std::size_t max_tokens = 0,
                            const LineLength& length = {}, bool skip_bad_lines = false,
                            const TextOptions& text = {}, bool allow_empty = false);
MonoCorpus read_monolingual(std::istream& in, const std::string& name, std::size_t max_tokens = 0,
                            const LineLength& length = {}, bool skip_bad_lines = false,
                            const TextOptions& text = {}, bool allow_empty = false);

}  // namespace attend
