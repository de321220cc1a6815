#include "attend/io/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "attend/core/error.hpp"

namespace attend {

namespace {

using json = nlohmann::json;

static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559, "IEEE-754 float needed");

bool little_endian() {
  const std::uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

std::uint64_t read_le64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void write_le64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Loads `n` little-endian bytes as an unsigned number.
template <typename U>
U load_le(const char* p) {
  U v = 0;
  for (int i = int(sizeof(U)) - 1; i >= 0; --i) v = U(v << 8) | U(static_cast<unsigned char>(p[i]));
  return v;
}

float from_bits32(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// IEEE-754 binary16 to binary32 (every half value, subnormals, infinities and NaN included).
float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000) << 16;
  std::uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0x1f) return from_bits32(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return from_bits32(sign);
    exp = 127 - 15 + 1;
    while ((mant & 0x400) == 0) {
      mant <<= 1;
      --exp;
    }
    mant &= 0x3ff;
    return from_bits32(sign | (exp << 23) | (mant << 13));
  }
  return from_bits32(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

struct Dtype {
  const char* name;
  std::size_t size;
};
constexpr Dtype kDtypes[] = {{"F32", 4}, {"F64", 8}, {"F16", 2}, {"BF16", 2}};

const Dtype* find_dtype(const std::string& name) {
  for (const Dtype& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

float load_element(const Dtype& d, const char* p) {
  switch (d.size) {
    case 8: {
      const std::uint64_t bits = load_le<std::uint64_t>(p);
      double v;
      std::memcpy(&v, &bits, 8);
      return static_cast<float>(v);
    }
    case 4:
      return from_bits32(load_le<std::uint32_t>(p));
    default:
      return d.name[0] == 'B' ? from_bits32(std::uint32_t(load_le<std::uint16_t>(p)) << 16)
                              : half_to_float(load_le<std::uint16_t>(p));
  }
}

}  // namespace

bool json_nesting_within(const std::string& text, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (const char ch : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (ch == '\\') escaped = true;
      else if (ch == '"') in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '{' || ch == '[') {
      if (++depth > limit) return false;
    } else if (ch == '}' || ch == ']') {
      --depth;
    }
  }
  return true;
}

namespace {

bool whole_number(const json& v) { return v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0); }

struct Entry {
  std::string name;
  const Dtype* dtype;
  std::vector<std::size_t> shape;
  std::uint64_t begin, end, count;
};

}  // namespace

bool looks_like_safetensors(const std::string& prefix) {
  return prefix.size() >= 9 && read_le64(prefix.data()) >= 2 && prefix[8] == '{';
}

std::string encode_safetensors(const SafetensorsFile& file) {
  json header = json::object();
  if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
  std::uint64_t offset = 0;
  for (const auto& t : file.tensors) {
    std::size_t count = 1;
    for (std::size_t d : t.shape) count *= d;
    if (count != t.data.size())
      throw Error("tensor '" + t.name + "': shape holds " + std::to_string(count) +
                  " values but the data has " + std::to_string(t.data.size()));
    if (t.name == "__metadata__" || header.contains(t.name))
      throw Error("tensor name '" + t.name + "' is reserved or used twice");
    const std::uint64_t bytes = 4ull * count;
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + text.size() + offset);
  write_le64(out, text.size());
  out += text;
  for (const auto& t : file.tensors) {
    if (t.data.empty()) {
    } else if (little_endian()) {
      out.append(reinterpret_cast<const char*>(t.data.data()), 4 * t.data.size());
    } else {
      for (float f : t.data) {
        std::uint32_t bits;
        std::memcpy(&bits, &f, 4);
        for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
      }
    }
  }
  return out;
}

SafetensorsFile decode_safetensors(const std::string& bytes, const std::string& what) {
  auto fail = [&](const std::string& problem) { return Error(what + ": " + problem); };
  if (bytes.size() < 8)
    throw fail("too short for a safetensors file (" + std::to_string(bytes.size()) +
               " bytes; the 8-byte header length is missing)");
  const std::uint64_t header_len = read_le64(bytes.data());
  const std::uint64_t after = bytes.size() - 8;
  if (header_len > kMaxSafetensorsHeader)
    throw fail("the header claims " + std::to_string(header_len) + " bytes, more than the " +
               std::to_string(kMaxSafetensorsHeader) + " this reader accepts");
  if (header_len > after)
    throw fail("the header claims " + std::to_string(header_len) + " bytes but only " +
               std::to_string(after) + " follow the length (truncated file?)");
  if (header_len < 2) throw fail("the header is empty");
  const std::string text = bytes.substr(8, header_len);
  if (text[0] != '{') throw fail("the header does not start with '{'");
  if (!json_nesting_within(text, 3)) throw fail("the header nests deeper than the format allows");
  const json header = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) throw fail("the header is not valid JSON (or not valid UTF-8)");
  if (!header.is_object()) throw fail("the header is not a JSON object");

  SafetensorsFile file;
  std::vector<Entry> entries;
  const std::uint64_t data_size = after - header_len;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) throw fail("__metadata__ is not an object of strings");
      for (const auto& [key, text_value] : value.items()) {
        if (!text_value.is_string()) throw fail("__metadata__ entry '" + key + "' is not a string");
        file.metadata[key] = text_value.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!value.is_object()) throw fail(where + " is not an object");
    for (const auto& [key, unused] : value.items()) {
      (void)unused;
      if (key != "dtype" && key != "shape" && key != "data_offsets")
        throw fail(where + " has an unknown field '" + key + "'");
    }
    const auto dtype = value.find("dtype"), shape = value.find("shape"), offsets = value.find("data_offsets");
    if (dtype == value.end() || shape == value.end() || offsets == value.end())
      throw fail(where + " needs dtype, shape and data_offsets");
    if (!dtype->is_string()) throw fail(where + ": dtype is not a string");
    Entry e{name, find_dtype(dtype->get<std::string>()), {}, 0, 0, 1};
    if (!e.dtype)
      throw fail(where + " has dtype " + dtype->get<std::string>() + "; attend reads F32, F64, F16 and BF16");
    if (!shape->is_array()) throw fail(where + ": shape is not a list");
    for (const json& d : *shape) {
      if (!whole_number(d)) throw fail(where + ": shape holds something other than whole numbers");
      const std::uint64_t n = d.get<std::uint64_t>();
      if (n > std::numeric_limits<std::size_t>::max() ||
          __builtin_mul_overflow(e.count, n, &e.count))
        throw fail(where + ": the shape's product overflows");
      e.shape.push_back(static_cast<std::size_t>(n));
    }
    if (!offsets->is_array() || offsets->size() != 2 || !whole_number((*offsets)[0]) ||
        !whole_number((*offsets)[1]))
      throw fail(where + ": data_offsets is not a pair of whole numbers");
    e.begin = (*offsets)[0].get<std::uint64_t>();
    e.end = (*offsets)[1].get<std::uint64_t>();
    std::uint64_t need = 0;
    if (__builtin_mul_overflow(e.count, std::uint64_t(e.dtype->size), &need))
      throw fail(where + ": the shape's byte size overflows");
    if (e.begin > e.end) throw fail(where + ": data_offsets end before they begin");
    if (e.end > data_size)
      throw fail(where + ": data_offsets reach byte " + std::to_string(e.end) + " but the data holds " +
                 std::to_string(data_size) + " bytes (truncated file?)");
    if (e.end - e.begin != need)
      throw fail(where + ": the shape needs " + std::to_string(need) + " bytes but data_offsets span " +
                 std::to_string(e.end - e.begin));
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expected = 0;
  for (const Entry& e : entries) {
    if (e.begin < expected) throw fail("tensor '" + e.name + "' overlaps the tensor before it");
    if (e.begin > expected)
      throw fail("the data has a gap of " + std::to_string(e.begin - expected) + " bytes before tensor '" + e.name + "'");
    expected = e.end;
  }
  if (expected != data_size)
    throw fail(std::to_string(data_size - expected) + " bytes after the last tensor belong to none");

  const char* data = bytes.data() + 8 + header_len;
  for (const Entry& e : entries) {
    SafetensorsTensor t{e.name, e.shape, std::vector<float>(static_cast<std::size_t>(e.count))};
    const char* p = data + e.begin;
    if (t.data.empty()) {
    } else if (e.dtype->size == 4 && little_endian()) {
      std::memcpy(t.data.data(), p, 4 * t.data.size());
    } else {
      for (std::size_t i = 0; i < t.data.size(); ++i) t.data[i] = load_element(*e.dtype, p + i * e.dtype->size);
    }
    file.tensors.push_back(std::move(t));
  }
  return file;
}

}  // namespace attend
