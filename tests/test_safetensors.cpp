#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "attend/core/error.hpp"
#include "attend/io/safetensors.hpp"

using namespace attend;

namespace {

std::string le64(std::uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

// A file as another writer would produce it: header text as given, then raw data bytes.
std::string file_of(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

std::string f32_bytes(std::initializer_list<float> values) {
  std::string s;
  for (float f : values) {
    char b[4];
    std::memcpy(b, &f, 4);
    s.append(b, 4);
  }
  return s;
}

std::string refusal(const std::string& bytes) {
  try {
    decode_safetensors(bytes, "model.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

SafetensorsFile sample() {
  SafetensorsFile f;
  f.metadata = {{"format", "attend-checkpoint"}, {"model.cell", "gru"}, {"list.vocab.src", "[\"<pad>\"]"}};
  f.tensors = {{"encoder.embedding.weight", {2, 3}, {1, 2, 3, 4, 5, 6}},
               {"scalar", {}, {0.5f}},
               {"empty", {0, 4}, {}},
               {"decoder.out.bias", {3}, {-1.5f, 0.0f, 1e-30f}}};
  return f;
}

}  // namespace

TEST_CASE("safetensors round trip keeps names, shapes, values and metadata", "[safetensors]") {
  const SafetensorsFile in = sample();
  const SafetensorsFile out = decode_safetensors(encode_safetensors(in), "x");
  CHECK(out.metadata == in.metadata);
  REQUIRE(out.tensors.size() == in.tensors.size());
  for (std::size_t i = 0; i < in.tensors.size(); ++i) {
    CHECK(out.tensors[i].name == in.tensors[i].name);
    CHECK(out.tensors[i].shape == in.tensors[i].shape);
    CHECK(out.tensors[i].data == in.tensors[i].data);
  }
}

TEST_CASE("safetensors writer pads the header so the data starts 8-byte aligned", "[safetensors]") {
  const std::string bytes = encode_safetensors(sample());
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK(n % 8 == 0);
  CHECK(bytes[8] == '{');
  CHECK(looks_like_safetensors(bytes));
}

TEST_CASE("safetensors reader takes a file written by another tool in any tensor order", "[safetensors]") {
  const std::string header =
      R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}})";
  const auto f = decode_safetensors(file_of(header, f32_bytes({1, 2, 3})), "x");
  REQUIRE(f.tensors.size() == 2);
  CHECK(f.tensors[0].name == "a");
  CHECK(f.tensors[0].data == std::vector<float>{1, 2});
  CHECK(f.tensors[1].data == std::vector<float>{3});
  CHECK(f.metadata.at("k") == "v");
}

TEST_CASE("safetensors reader converts F64, F16 and BF16 to float", "[safetensors]") {
  std::string data;
  const double d = -2.25;
  char b8[8];
  std::memcpy(b8, &d, 8);
  data.append(b8, 8);
  data += std::string("\x00\x3c", 2);  // F16 1.0
  data += std::string("\x01\x00", 2);  // F16 smallest subnormal 2^-24
  data += std::string("\xc0\x3f", 2);  // BF16 1.5
  const std::string header =
      R"({"d":{"dtype":"F64","shape":[],"data_offsets":[0,8]},)"
      R"("h":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},)"
      R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[12,14]}})";
  const auto f = decode_safetensors(file_of(header, data), "x");
  REQUIRE(f.tensors.size() == 3);
  CHECK(f.tensors[0].data[0] == -2.25f);
  CHECK(f.tensors[1].data[0] == 1.0f);
  CHECK(f.tensors[1].data[1] == std::ldexp(1.0f, -24));
  CHECK(f.tensors[2].data[0] == 1.5f);
}

TEST_CASE("safetensors reader refuses every malformed file by name and problem", "[safetensors]") {
  const std::string ok_tensor = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string data = f32_bytes({1, 2});
  struct Case {
    const char* what;
    std::string bytes;
    const char* says;
  };
  const Case cases[] = {
      {"fewer than 8 bytes", "abc", "too short"},
      {"a header of terabytes", le64(1ull << 42) + "{}", "more than the"},
      {"a header longer than the file", le64(100) + "{}", "truncated"},
      {"a header that is not JSON", file_of("{not json}", ""), "not valid JSON"},
      {"a header that is a list", file_of("[1]", ""), "does not start with '{'"},
      {"deep nesting", file_of("{\"a\":[[[[[[1]]]]]]}", ""), "nests deeper"},
      {"an unknown dtype", file_of(R"({"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}})", "x"), "dtype I8"},
      {"a negative dimension", file_of(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "xxxx"), "whole numbers"},
      {"a shape whose product overflows",
       file_of(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}})", "xxxx"),
       "overflows"},
      {"offsets that disagree with the shape", file_of(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data),
       "needs 12 bytes"},
      {"offsets past the data", file_of(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data), "truncated"},
      {"reversed offsets", file_of(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", data), "end before"},
      {"overlapping tensors",
       file_of("{" + ok_tensor + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data), "overlaps"},
      {"a gap", file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data), "gap of 4 bytes"},
      {"trailing bytes", file_of("{" + ok_tensor + "}", data + "junk"), "belong to none"},
      {"metadata that is not strings", file_of(R"({"__metadata__":{"k":1}})", ""), "not a string"},
      {"a tensor without offsets", file_of(R"({"a":{"dtype":"F32","shape":[1]}})", "xxxx"), "needs dtype, shape"},
      {"an unknown field", file_of(R"({"a":{"dtype":"F32","shape":[],"data_offsets":[0,4],"x":1}})", "xxxx"),
       "unknown field"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const std::string message = refusal(c.bytes);
    CHECK(message.rfind("model.safetensors: ", 0) == 0);
    CHECK(message.find(c.says) != std::string::npos);
  }
}
