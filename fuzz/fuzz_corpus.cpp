// The parallel corpus reader on arbitrary file contents, read as plain text (the input split at its
// first NUL into the source and the target file) and, with ATTEND_FUZZ_GZ, as .gz files (the whole
// input is both files: gzip data is full of NULs). Every line-level problem is refused or, with
// --skip-bad-lines, counted. The bytes go through the stream entry point that
// read_parallel(path, path) itself calls.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "attend/core/error.hpp"
#include "attend/text/corpus.hpp"

namespace {

#ifdef ATTEND_FUZZ_GZ
const std::string kSrc = "fuzz.src.gz", kTgt = "fuzz.tgt.gz";
#else
const std::string kSrc = "fuzz.src", kTgt = "fuzz.tgt";
#endif

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
#ifdef ATTEND_FUZZ_GZ
  const std::string& src = bytes;
  const std::string& tgt = bytes;
#else
  const std::size_t cut = std::min(bytes.find('\0'), size);
  const std::string src = bytes.substr(0, cut), tgt = cut < size ? bytes.substr(cut + 1) : "";
#endif
  for (bool skip : {false, true}) {
    attend::CorpusOptions options;
    options.skip_bad_lines = skip;
    options.max_src_tokens = 50;
    options.text.lowercase = size % 2 == 0;
    options.text.normalize = size % 3 == 0;
    std::istringstream src_in(src), tgt_in(tgt);
    try {
      const attend::ParallelCorpus c = attend::read_parallel(src_in, kSrc, tgt_in, kTgt, options);
      if (c.src.size() != c.tgt.size() || c.src.size() != c.line_numbers.size()) __builtin_trap();
    } catch (const attend::Error&) {
    }
  }
  return 0;
}
