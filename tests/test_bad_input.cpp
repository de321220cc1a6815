// Bad input given to every command that reads files: random bytes, a directory or a FIFO where a
// file is expected, a single 100 MB line, a model header claiming terabytes, a 1 KB model file
// claiming a vocabulary of a million entries. Each gives `attend: error: ...` and exit status 2,
// within a wall-clock bound and (outside sanitizer builds) an address-space limit.
#include <attend/io/checkpoint_file.hpp>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "support.hpp"

namespace fs = std::filesystem;
using namespace attend::test;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;  // ASan reserves terabytes of address space: no ulimit -v
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

constexpr int kSeconds = 30;          // wall-clock bound of one command
constexpr long kAddressSpaceMb = 1200;  // the model, the corpora and the BLAS buffers fit easily

// `attend ARGS` in dir under the bounds; the path of the bad input replaces every "{}" in ARGS.
CliRun run_bounded(const TempDir& dir, std::string args, const std::string& bad, const std::string& input = "") {
  for (std::size_t at; (at = args.find("{}")) != std::string::npos;) args.replace(at, 2, quote(bad));
  static int outputs = 0;
  for (std::size_t at; (at = args.find("{out}")) != std::string::npos;)
    args.replace(at, 5, "out" + std::to_string(++outputs));
  const std::string in = dir.file("stdin.txt"), out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
  write_file(in, input);
  std::string cmd = "cd " + quote(dir.file()) + " && ";
  if (!kSanitized) cmd += "ulimit -v " + std::to_string(kAddressSpaceMb * 1024) + " && ";
  cmd += "exec timeout -s KILL " + std::to_string(kSeconds) + " " + quote(ATTEND_CLI_PATH) + " " + args +
         " <" + quote(in) + " >" + quote(out) + " 2>" + quote(err);
  const int raw = std::system(cmd.c_str());
  CliRun r;
  if (raw != -1 && WIFEXITED(raw)) r.status = WEXITSTATUS(raw);  // 137: killed by the time bound
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

// A command that reads files, the bad file's place in it marked "{}", and the good file of the
// Good setup that belongs there ("{out}" is a fresh output directory for each run).
struct Command {
  std::string args, good_file;
};

const char* const kTrainFiles = "train -q --steps 1 --hidden 8 --emb 4 --model out.safetensors ";
const char* const kCompare = "compare -q --cells gru --attention luong-dot --steps 1 --hidden 8 --emb 4 -o {out} ";

const std::vector<Command>& corpus_commands() {
  static const std::vector<Command> c = {
      {std::string(kTrainFiles) + "--train-src {} --train-tgt good.txt --valid-src good.txt --valid-tgt good.txt",
       "good.txt"},
      {std::string(kTrainFiles) + "--train-src good.txt --train-tgt {} --valid-src good.txt --valid-tgt good.txt",
       "good.txt"},
      {std::string(kTrainFiles) + "--train-src good.txt --train-tgt good.txt --valid-src {} --valid-tgt good.txt",
       "good.txt"},
      {std::string(kTrainFiles) + "--train-src good.txt --train-tgt good.txt --valid-src good.txt --valid-tgt {}",
       "good.txt"},
      {std::string(kTrainFiles) + "--train-src good.txt --train-tgt good.txt --valid-src good.txt "
                                  "--valid-tgt good.txt --test-src {} --test-tgt good.txt",
       "good.txt"},
      {"eval --model model.safetensors --src {} --ref good.txt", "good.txt"},
      {"eval --model model.safetensors --src good.txt --ref {}", "good.txt"},
      {"score --model model.safetensors --src {} --tgt good.txt", "good.txt"},
      {"score --model model.safetensors --src good.txt --tgt {}", "good.txt"},
      {"bleu --hyp {} --ref good.txt", "good.txt"},
      {"bleu --hyp good.txt --ref {}", "good.txt"},
      {std::string(kCompare) + "--train-src {} --train-tgt good.txt --valid-src good.txt --valid-tgt good.txt "
                               "--test-src good.txt --test-tgt good.txt",
       "good.txt"},
  };
  return c;
}

const std::vector<Command>& model_commands() {
  static const std::vector<Command> c = {
      {"translate --model {}", "model.safetensors"},
      {"eval --model {} --src good.txt --ref good.txt", "model.safetensors"},
      {"score --model {} --src good.txt --tgt good.txt", "model.safetensors"},
      {"train -q --steps 2 --model out.safetensors --resume {} --train-src good.txt --train-tgt good.txt "
       "--valid-src good.txt --valid-tgt good.txt",
       "resumable.safetensors"},
      {"convert-checkpoint {} converted.safetensors", "version1.h5"},
  };
  return c;
}

const std::vector<Command>& config_commands() {
  static const std::vector<Command> c = {
      {"train -q --task reverse --steps 1 --hidden 8 --emb 4 --model out.safetensors --config {}", "good.cfg"},
      {std::string(kCompare) + "--config {}", "good.cfg"},
  };
  return c;
}

std::vector<Command> all_commands() {
  std::vector<Command> all = corpus_commands();
  for (const auto* list : {&model_commands(), &config_commands()}) all.insert(all.end(), list->begin(), list->end());
  return all;
}

// A directory with a good corpus, config file and models, shared by the cases.
struct Good {
  TempDir dir;
  CliRun trained, trained_on_files;
  Good() {
    std::string lines;
    for (const char* w : {"abc", "bca", "cab", "acb", "bac", "cba", "aab", "bba"}) lines += std::string(w) + "\n";
    write_file(dir.file("good.txt"), lines);
    write_file(dir.file("good.cfg"), "steps = 1\nhidden = 8\n");
    trained = run_cli(dir, "train -q --task reverse --steps 2 --hidden 8 --emb 4 --model model.safetensors");
    trained_on_files = run_cli(dir, "train -q --steps 1 --hidden 8 --emb 4 --model resumable.safetensors "
                                    "--train-src good.txt --train-tgt good.txt --valid-src good.txt --valid-tgt good.txt");
    if (trained.status == 0)
      attend::save_checkpoint_file_hdf5(dir.file("version1.h5"), attend::load_checkpoint_file(dir.file("model.safetensors")));
  }
};

const Good& good() {
  static const Good g;
  REQUIRE(g.trained.status == 0);
  REQUIRE(g.trained_on_files.status == 0);
  return g;
}

// Exit 2 and one `attend: error: ` message that names the bad file.
void check_refused(const CliRun& r, const std::string& command, const std::string& bad) {
  INFO(command << "\nstatus " << r.status << "\nstderr: " << r.err.substr(0, 2000));
  CHECK(r.status == 2);
  CHECK(r.err.rfind("attend: error: ", 0) == 0);
  CHECK(contains(r.err, fs::path(bad).filename().string()));
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// An 8-byte little-endian header length, then `header`, then `data`.
std::string safetensors_bytes(std::uint64_t header_len, const std::string& header, const std::string& data = "") {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((header_len >> (8 * i)) & 0xff);
  return s + header + data;
}

}  // namespace

TEST_CASE("every command of these cases succeeds with the good file in the bad file's place", "[bad-input][cli]") {
  const Good& g = good();
  for (const auto& c : all_commands()) {
    const CliRun r = run_bounded(g.dir, c.args, g.dir.file(c.good_file), "abc\n");
    INFO(c.args << "\nstderr: " << r.err.substr(0, 2000));
    CHECK(r.status == 0);
  }
}

TEST_CASE("random bytes as a corpus, model or config file are refused with exit 2", "[bad-input][cli]") {
  const Good& g = good();
  unsigned seed = 1;
  for (const auto& c : all_commands()) {
    const std::string bad = g.dir.file("random" + std::to_string(seed));
    write_file(bad, random_bytes(4096, seed++));
    check_refused(run_bounded(g.dir, c.args, bad, "abc\n"), c.args, bad);
  }
}

TEST_CASE("a directory where a file is expected is refused with exit 2", "[bad-input][cli]") {
  const Good& g = good();
  const std::string bad = g.dir.file("a-directory");
  fs::create_directories(bad);
  for (const auto& c : all_commands()) check_refused(run_bounded(g.dir, c.args, bad, "abc\n"), c.args, bad);
}

TEST_CASE("a FIFO where a file is expected is refused with exit 2 without waiting for a writer",
          "[bad-input][cli]") {
  const Good& g = good();
  const std::string bad = g.dir.file("a-fifo");
  REQUIRE(::mkfifo(bad.c_str(), 0600) == 0);
  for (const auto& c : all_commands()) check_refused(run_bounded(g.dir, c.args, bad, "abc\n"), c.args, bad);
}

TEST_CASE("a corpus with a single 100 MB line is refused with exit 2 in bounded time and memory",
          "[bad-input][cli]") {
  const Good& g = good();
  // The good file's line count, its first line replaced: 100 MB of words, or one 100 MB word.
  const std::string rest = read_file(g.dir.file("good.txt")).substr(4);
  std::string words;
  words.reserve((100u << 20) + rest.size() + 8);
  while (words.size() < (100u << 20)) words += "abc ";
  std::string one_word(100u << 20, 'a');
  for (const auto& [name, line] : {std::pair<std::string, std::string*>{"words.txt", &words},
                                   std::pair<std::string, std::string*>{"one-word.txt", &one_word}}) {
    const std::string bad = g.dir.file(name);
    write_file(bad, *line + "\n" + rest);
    *line = std::string();
    for (const auto& c : corpus_commands()) check_refused(run_bounded(g.dir, c.args, bad), c.args, bad);
    fs::remove(bad);
  }
}

TEST_CASE("a model file whose header claims terabytes is refused with exit 2", "[bad-input][cli]") {
  const Good& g = good();
  const std::string huge_header = g.dir.file("huge-header.safetensors");
  write_file(huge_header, safetensors_bytes(std::uint64_t(1) << 42, "{}"));
  const std::string huge_tensor = g.dir.file("huge-tensor.safetensors");
  const std::string h = R"({"__metadata__":{"format":"attend-checkpoint","format_version":"2"},)"
                        R"("w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4000000000000]}})";
  write_file(huge_tensor, safetensors_bytes(h.size(), h, std::string(64, '\0')));
  for (const auto* bad : {&huge_header, &huge_tensor})
    for (const auto& c : model_commands()) check_refused(run_bounded(g.dir, c.args, *bad, "abc\n"), c.args, *bad);
}

TEST_CASE("a 1 KB model file claiming vocabularies of a million entries is refused with exit 2",
          "[bad-input][cli]") {
  const Good& g = good();
  attend::CheckpointFile ck;
  ck.config = {{"model.src_vocab", "1000000"}, {"model.tgt_vocab", "1000000"}, {"model.emb", "4"},
               {"model.hidden", "8"}};
  ck.string_lists = {{"vocab.src", {"<pad>", "<s>", "</s>", "<unk>", "a"}},
                     {"vocab.tgt", {"<pad>", "<s>", "</s>", "<unk>", "b"}}};
  ck.tensors = {{"decoder.out.bias", {5}, std::vector<float>(5, 0.0f)}};
  const std::string bytes = attend::encode_checkpoint(ck, "million");
  REQUIRE(bytes.size() < 1024);
  const std::string bad = g.dir.file("million.safetensors");
  write_file(bad, bytes);
  for (const auto& c : model_commands()) check_refused(run_bounded(g.dir, c.args, bad, "abc\n"), c.args, bad);
}
