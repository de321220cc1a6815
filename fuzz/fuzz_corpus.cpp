// The parallel corpus reader on arbitrary file contents, read as plain text and (ATTEND_FUZZ_GZ)
// as a .gz file: every line-level problem is refused or, with --skip-bad-lines, counted.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "attend/core/error.hpp"
#include "attend/text/corpus.hpp"

namespace {

#ifdef ATTEND_FUZZ_GZ
const char* const kSuffix = ".gz";
#else
const char* const kSuffix = ".txt";
#endif

// The input split at its first NUL into a source and a target file.
struct Files {
  std::string src, tgt;
  Files() {
    const std::string dir = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
    const std::string stem = dir + "/attend-fuzz-corpus-" + std::to_string(::getpid());
    src = stem + ".src" + kSuffix;
    tgt = stem + ".tgt" + kSuffix;
  }
  ~Files() {
    std::remove(src.c_str());
    std::remove(tgt.c_str());
  }
};

void write(const std::string& path, const char* data, std::size_t n) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();
  if (n && std::fwrite(data, 1, n, f) != n) __builtin_trap();
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Files files;
  const char* bytes = reinterpret_cast<const char*>(data);
  std::size_t cut = 0;
  while (cut < size && bytes[cut] != '\0') ++cut;
  write(files.src, bytes, cut);
  write(files.tgt, bytes + std::min(cut + 1, size), size - std::min(cut + 1, size));
  for (bool skip : {false, true}) {
    attend::CorpusOptions options;
    options.skip_bad_lines = skip;
    options.max_src_tokens = 50;
    options.text.lowercase = size % 2 == 0;
    options.text.normalize = size % 3 == 0;
    try {
      const attend::ParallelCorpus c = attend::read_parallel(files.src, files.tgt, options);
      if (c.src.size() != c.tgt.size()) __builtin_trap();
    } catch (const attend::Error&) {
    }
  }
  return 0;
}
