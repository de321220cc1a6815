#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

// Debian keeps the serial HDF5 headers in a subdirectory the test target need not know about.
#if __has_include(<hdf5.h>)
#include <hdf5.h>
#else
#include <hdf5/serial/hdf5.h>
#endif

#include "attend/io/checkpoint_file.hpp"
#include "attend/core/error.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

struct TempDir {
  fs::path dir = fs::temp_directory_path() / ("attend_test_ckpt_" + std::to_string(::getpid()));
  TempDir() {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempDir() { fs::remove_all(dir); }
  std::string file(const std::string& name) const { return (dir / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    return names;
  }
};

attend::Tensor tensor(const std::string& name, std::vector<std::size_t> shape, float start) {
  attend::Tensor t{name, std::move(shape), {}};
  std::size_t n = 1;
  for (std::size_t d : t.shape) n *= d;
  for (std::size_t i = 0; i < n; ++i) t.data.push_back(start + std::sin(static_cast<float>(i)) / 3.0f);
  return t;
}

attend::CheckpointFile sample() {
  attend::CheckpointFile ck;
  ck.config = {{"cell", "gru"}, {"hidden", "8"}, {"note", "Größe ✓ 翻訳"}};
  ck.string_lists = {{"vocab.src", {"<pad>", "<s>", "</s>", "héllo", "世界"}},
                     {"vocab.tgt", {"<pad>", "ünïcode", "🙂"}},
                     {"empty", {}}};
  ck.tensors = {tensor("encoder.rnn.weight_ih_l0", {6, 4}, 0.25f), tensor("encoder.rnn.bias_ih_l0", {6}, -1.5f),
                tensor("decoder.attention.cube", {2, 3, 4}, 7.0f)};
  ck.tensors[1].data[0] = std::numeric_limits<float>::denorm_min();
  ck.tensors[1].data[1] = -0.0f;
  ck.tensors[1].data[2] = std::numeric_limits<float>::max();
  return ck;
}

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string load_error(const std::string& path) {
  try {
    attend::load_checkpoint_file(path);
  } catch (const attend::Error& e) {
    return e.what();
  }
  FAIL("loading " << path << " did not throw attend::Error");
  return {};
}

}  // namespace

TEST_CASE("checkpoint round trip preserves config, string lists, tensor names, shapes and exact values",
          "[checkpoint]") {
  TempDir tmp;
  const auto ck = sample();
  attend::save_checkpoint_file(tmp.file("model.h5"), ck);
  const auto back = attend::load_checkpoint_file(tmp.file("model.h5"));

  CHECK(back.config == ck.config);
  CHECK(back.string_lists == ck.string_lists);
  REQUIRE(back.tensors.size() == ck.tensors.size());
  for (std::size_t i = 0; i < ck.tensors.size(); ++i) {
    CHECK(back.tensors[i].name == ck.tensors[i].name);  // also in the order saved
    CHECK(back.tensors[i].shape == ck.tensors[i].shape);
    CHECK(back.tensors[i].data == ck.tensors[i].data);
  }
  CHECK(std::signbit(back.tensors[1].data[1]));
}

TEST_CASE("checkpoint find returns the named tensor or nullptr", "[checkpoint]") {
  const auto ck = sample();
  REQUIRE(ck.find("decoder.attention.cube") != nullptr);
  CHECK(ck.find("decoder.attention.cube")->shape == std::vector<std::size_t>{2, 3, 4});
  CHECK(ck.find("decoder.out.weight") == nullptr);
}

TEST_CASE("saving a checkpoint over an existing file replaces it and leaves no temp file", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("model.h5");
  attend::save_checkpoint_file(path, sample());
  attend::CheckpointFile second;
  second.config["hidden"] = "16";
  second.tensors.push_back(tensor("decoder.out.bias", {5}, 2.0f));
  attend::save_checkpoint_file(path, second);

  const auto back = attend::load_checkpoint_file(path);
  CHECK(back.config == second.config);
  CHECK(back.string_lists.empty());
  REQUIRE(back.tensors.size() == 1);
  CHECK(back.tensors[0].data == second.tensors[0].data);
  CHECK(tmp.entries() == std::vector<std::string>{"model.h5"});
}

TEST_CASE("saving a checkpoint into a missing directory throws an error naming the path", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("no_such_dir/model.h5");
  CHECK_THROWS_WITH(attend::save_checkpoint_file(path, sample()), Contains(path) && Contains("cannot save"));
  CHECK(tmp.entries().empty());
}

TEST_CASE("a failed save leaves the existing checkpoint intact and no temp file", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("model.h5");
  attend::save_checkpoint_file(path, sample());
  const std::string before = bytes_of(path);

  auto bad = sample();
  bad.tensors[0].data.pop_back();
  CHECK_THROWS_WITH(attend::save_checkpoint_file(path, bad),
                    Contains(path) && Contains("has 23 values but its shape [6, 4] needs 24"));
  CHECK(bytes_of(path) == before);
  CHECK(tmp.entries() == std::vector<std::string>{"model.h5"});
}

TEST_CASE("a save whose final rename fails removes its temp file", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("taken");
  fs::create_directories(fs::path(path) / "inside");  // a non-empty directory cannot be renamed over
  CHECK_THROWS_WITH(attend::save_checkpoint_file(path, sample()), Contains(path) && Contains("cannot rename"));
  CHECK(tmp.entries() == std::vector<std::string>{"taken"});
  CHECK(fs::is_directory(fs::path(path) / "inside"));
}

TEST_CASE("loading a missing checkpoint names the path and says no such file", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("absent.h5");
  CHECK_THAT(load_error(path), Contains(path) && Contains("no such file"));
}

TEST_CASE("loading an empty file says it is empty", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("empty.h5");
  write_bytes(path, "");
  CHECK_THAT(load_error(path), Contains(path) && Contains("empty file"));
}

TEST_CASE("loading a text file says it is not an attend checkpoint (not HDF5)", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("notes.txt");
  write_bytes(path, "hidden = 8\nthis is a config file, not a checkpoint\n");
  CHECK_THAT(load_error(path), Contains(path) && Contains("is not an attend checkpoint (not HDF5)"));
}

TEST_CASE("loading a truncated checkpoint says it is damaged", "[checkpoint]") {
  TempDir tmp;
  attend::save_checkpoint_file(tmp.file("model.h5"), sample());
  const std::string bytes = bytes_of(tmp.file("model.h5"));
  const std::string path = tmp.file("half.h5");
  write_bytes(path, bytes.substr(0, bytes.size() / 2));
  CHECK_THAT(load_error(path), Contains(path) && Contains("is damaged"));
}

TEST_CASE("loading a checkpoint with a flipped byte in tensor data fails its checksum", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("model.h5");
  attend::CheckpointFile ck;
  ck.tensors.push_back(tensor("decoder.out.weight", {4, 4}, 1000.0f));
  attend::save_checkpoint_file(path, ck);

  std::string bytes = bytes_of(path);
  const auto& values = ck.tensors[0].data;
  const std::string raw(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  const std::size_t at = bytes.find(raw);
  REQUIRE(at != std::string::npos);
  bytes[at + raw.size() / 2] ^= 0x10;
  write_bytes(path, bytes);

  CHECK_THAT(load_error(path), Contains(path) && Contains("is damaged") && Contains("decoder.out.weight"));
}

TEST_CASE("loading a checkpoint with a flipped byte in a string list fails its CRC-32", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("model.h5");
  attend::save_checkpoint_file(path, sample());
  std::string bytes = bytes_of(path);
  const std::size_t at = bytes.find("héllo");
  REQUIRE(at != std::string::npos);
  bytes[at] = 'j';
  write_bytes(path, bytes);
  CHECK_THAT(load_error(path), Contains(path) && Contains("is damaged") && Contains("vocab.src"));
}

TEST_CASE("loading an HDF5 file without the format attribute says it is not an attend checkpoint",
          "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("foreign.h5");
  {
    hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[1] = {3};
    hid_t space = H5Screate_simple(1, dims, nullptr);
    hid_t ds = H5Dcreate2(file, "weights", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const float values[3] = {1, 2, 3};
    H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    H5Dclose(ds);
    H5Sclose(space);
    H5Fclose(file);
  }
  const std::string message = load_error(path);
  CHECK_THAT(message, Contains(path) && Contains("is not an attend checkpoint"));
  CHECK_THAT(message, !Contains("not HDF5"));
}

TEST_CASE("loading a checkpoint of a newer format version names both versions", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("future.h5");
  attend::save_checkpoint_file(path, sample());
  {
    hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t attr = H5Aopen(file, "format_version", H5P_DEFAULT);
    const int version = attend::kCheckpointVersion + 1;
    H5Awrite(attr, H5T_NATIVE_INT, &version);
    H5Aclose(attr);
    H5Fclose(file);
  }
  CHECK_THAT(load_error(path),
             Contains(path) && Contains("was written by a newer attend (format version 2, this build reads up to 1)"));
}

TEST_CASE("loading a checkpoint whose tensor holds integers says it is not floating-point", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("ints.h5");
  attend::save_checkpoint_file(path, attend::CheckpointFile{});
  {
    hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hsize_t dims[2] = {2, 2};
    hid_t space = H5Screate_simple(2, dims, nullptr);
    hid_t ds = H5Dcreate2(file, "state_dict/encoder.embedding.weight", H5T_STD_I32LE, space, H5P_DEFAULT,
                          H5P_DEFAULT, H5P_DEFAULT);
    const int values[4] = {1, 2, 3, 4};
    H5Dwrite(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    H5Dclose(ds);
    H5Sclose(space);
    H5Fclose(file);
  }
  CHECK_THAT(load_error(path),
             Contains(path) && Contains("encoder.embedding.weight") && Contains("not hold floating-point data"));
}
