#include "support.hpp"

#include <attend/text/tasks.hpp>

#include <cctype>

#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace attend::test {

TempDir::TempDir() {
  static int counter = 0;
  path_ = fs::temp_directory_path() /
          ("attend_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::file(const std::string& name) const { return (path_ / name).string(); }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

void write_gz_file(const std::string& path, const std::string& content) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, content.data(), static_cast<unsigned>(content.size()));
  gzclose(f);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

CliRun run_cli(const TempDir& dir, const std::string& args, const std::string& input) {
  const std::string in = dir.file("stdin.txt"), out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
  write_file(in, input);
  const std::string cmd = "cd " + quote(dir.file()) + " && " + quote(ATTEND_CLI_PATH) + " " + args + " <" +
                          quote(in) + " >" + quote(out) + " 2>" + quote(err);
  const int raw = std::system(cmd.c_str());
  CliRun r;
  if (raw != -1 && WIFEXITED(raw)) r.status = WEXITSTATUS(raw);
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

TinyTask tiny_reverse_task(double dropout) {
  attend::TaskOptions t;
  t.name = "reverse";
  t.train_size = 300;
  t.valid_size = 20;
  const auto d = attend::make_task(t);
  std::vector<std::vector<std::string>> s, g;
  for (const auto& e : d.train) s.push_back(e.src), g.push_back(e.tgt);
  TinyTask r;
  r.src_vocab = attend::Vocab::build(s);
  r.tgt_vocab = attend::Vocab::build(g);
  r.train = attend::encode_examples(d.train, r.src_vocab, r.tgt_vocab);
  r.valid = attend::encode_examples(d.valid, r.src_vocab, r.tgt_vocab);
  r.config.emb = 8;
  r.config.hidden = 12;
  r.config.src_vocab = r.src_vocab.size();
  r.config.tgt_vocab = r.tgt_vocab.size();
  r.config.dropout = dropout;
  return r;
}

// Synthetic sentence pair i: 2-6 words from a small vocabulary; the target is the source reversed
// and upper-cased, so word order and lengths vary like a (very easy) translation task.
std::pair<std::string, std::string> synthetic_pair(int i) {
  static const char* kWords[] = {"red", "blue", "cat", "dog", "sun", "moon", "tree", "hill", "sea", "road"};
  const int n = 2 + (i * 7 + i / 3) % 5;
  std::vector<std::string> w;
  for (int k = 0; k < n; ++k) w.push_back(kWords[(i * 3 + k * 7 + k * i) % 10]);
  std::string src, tgt;
  for (int k = 0; k < n; ++k) {
    src += (k ? " " : "") + w[k];
    std::string up = w[n - 1 - k];
    for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    tgt += (k ? " " : "") + up;
  }
  return {src, tgt};
}

// Writes train (60 pairs), valid (16) and test (20) files into dir.
TextPipelineOptions synthetic_corpus(const TempDir& dir) {
  auto split = [&](const std::string& name, int from, int count) {
    std::string s, t;
    for (int i = from; i < from + count; ++i) {
      const auto [a, b] = synthetic_pair(i);
      s += a + "\n";
      t += b + "\n";
    }
    write_file(dir.file(name + ".src"), s);
    write_file(dir.file(name + ".tgt"), t);
  };
  split("train", 0, 60);
  split("valid", 100, 16);
  split("test", 200, 20);
  TextPipelineOptions c;
  c.files = {dir.file("train.src"), dir.file("train.tgt"), dir.file("valid.src"),
             dir.file("valid.tgt"), dir.file("test.src"),  dir.file("test.tgt")};
  return c;
}


}  // namespace attend::test
