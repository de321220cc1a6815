// The safetensors container (https://github.com/huggingface/safetensors, format as its README
// specifies it): 8 bytes little-endian header length N, N bytes of JSON header mapping each
// tensor name to {"dtype", "shape", "data_offsets"} plus an optional "__metadata__" map of
// strings, then the tensors' raw little-endian bytes. The reader trusts nothing: every length,
// offset, dtype, shape product, overlap and gap is checked against the buffer before any data is
// touched, and every violation is an attend::Error naming `what` (the file).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace attend {

struct SafetensorsTensor {
  std::string name;
  std::vector<std::size_t> shape;  // {} is a scalar
  std::vector<float> data;         // row-major; F64 and F16/BF16 files are converted to float
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;  // "__metadata__"
  std::vector<SafetensorsTensor> tensors;       // in data order (ascending data_offsets)
};

// Largest header this reader accepts: a model's vocabularies and SentencePiece models travel in
// the metadata, so it is generous, but a header claiming more than this is refused unread.
constexpr std::uint64_t kMaxSafetensorsHeader = 256ull << 20;

// The whole file as bytes (F32 tensors, header padded with spaces to a multiple of 8 bytes so
// that the data starts aligned, as the reference writer does).
std::string encode_safetensors(const SafetensorsFile& file);

// Parses `bytes`; throws Error("<what>: <problem>") for anything malformed.
SafetensorsFile decode_safetensors(const std::string& bytes, const std::string& what);

// False when JSON `text` nests arrays and objects deeper than `limit` (strings skipped): checked
// before parsing, so that hostile input cannot exhaust the parser's stack. The header nests three
// deep at most ({ name: { shape: [ ] } }).
bool json_nesting_within(const std::string& text, int limit);

// True when `prefix` (the first bytes of a file) can be the start of a safetensors file: a header
// length followed by '{'.
bool looks_like_safetensors(const std::string& prefix);

}  // namespace attend
