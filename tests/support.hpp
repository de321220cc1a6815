// Helpers the test files share: temporary directories, files, and running the `attend` binary.
#pragma once
#include <attend/nn/config.hpp>
#include <attend/text/batching.hpp>
#include <attend/text/pipeline.hpp>
#include <attend/text/vocab.hpp>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace attend::test {

// A fresh directory under the system's temporary directory, removed with everything in it at
// the end of the scope.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  // The path of `name` inside the directory (the directory itself for "").
  std::string file(const std::string& name = "") const;

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::string& path);  // "" when the file cannot be read
void write_file(const std::string& path, const std::string& content);
// Writes gzip-compressed content.
void write_gz_file(const std::string& path, const std::string& content);
std::vector<std::string> lines_of(const std::string& text);
bool contains(const std::string& haystack, const std::string& needle);
// A shell word: 'it'\''s'.
std::string quote(const std::string& s);

struct CliRun {
  int status = -1;  // exit status; -1 when killed by a signal
  std::string out, err;
};
// Runs `attend ARGS` (ARGS as shell words) in dir with `input` on stdin.
CliRun run_cli(const TempDir& dir, const std::string& args, const std::string& input = "");

// The reverse task, small (300 training and 20 validation pairs), encoded, with a tiny model
// configuration (emb 8, hidden 12) for training-loop tests.
struct TinyTask {
  std::vector<attend::EncodedPair> train, valid;
  attend::ModelConfig config;
  attend::Vocab src_vocab, tgt_vocab;
};
TinyTask tiny_reverse_task(double dropout = 0);

// Synthetic sentence pair i: 2-6 words from a small vocabulary; the target is the source reversed
// and upper-cased, so word order and lengths vary like a (very easy) translation task.
std::pair<std::string, std::string> synthetic_pair(int i);
// Writes train (60 pairs), valid (16) and test (20) files into dir.
TextPipelineOptions synthetic_corpus(const TempDir& dir);

}  // namespace attend::test
