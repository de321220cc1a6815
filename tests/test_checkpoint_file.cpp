#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <vector>

// Debian keeps the serial HDF5 headers in a subdirectory the test target need not know about.
#if __has_include(<hdf5.h>)
#include <hdf5.h>
#else
#include <hdf5/serial/hdf5.h>
#endif

#include "attend/io/checkpoint.hpp"
#include "attend/io/checkpoint_file.hpp"
#include "attend/io/safetensors.hpp"
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

TEST_CASE("loading a text file says it is not an attend checkpoint", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("notes.txt");
  write_bytes(path, "hidden = 8\nthis is a config file, not a checkpoint\n");
  CHECK_THAT(load_error(path), Contains(path) && Contains("is not an attend checkpoint (not a safetensors file"));
}

TEST_CASE("loading a directory or a FIFO says it is not a model file, without waiting", "[checkpoint]") {
  TempDir tmp;
  const std::string dir = tmp.file("adir");
  fs::create_directories(dir);
  CHECK_THAT(load_error(dir), Contains(dir) && Contains("is a directory"));
  const std::string fifo = tmp.file("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THAT(load_error(fifo), Contains(fifo) && Contains("not a regular file"));
}

TEST_CASE("loading a truncated checkpoint says it is truncated", "[checkpoint]") {
  TempDir tmp;
  attend::save_checkpoint_file(tmp.file("model.safetensors"), sample());
  const std::string bytes = bytes_of(tmp.file("model.safetensors"));
  for (std::size_t keep : {bytes.size() / 2, bytes.size() - 1}) {
    const std::string path = tmp.file("part.safetensors");
    write_bytes(path, bytes.substr(0, keep));
    CHECK_THAT(load_error(path), Contains(path) && Contains("truncated"));
  }
}

TEST_CASE("loading a checkpoint with a flipped byte in tensor data fails its checksum", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("model.safetensors");
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

  CHECK_THAT(load_error(path), Contains(path) && Contains("tensor data fails the CRC-32 checksum"));
}

TEST_CASE("loading a checkpoint with a flipped byte in a string list fails its CRC-32", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("model.safetensors");
  attend::save_checkpoint_file(path, sample());
  std::string bytes = bytes_of(path);
  const std::size_t at = bytes.find("héllo");
  REQUIRE(at != std::string::npos);
  bytes[at] = 'j';
  write_bytes(path, bytes);
  CHECK_THAT(load_error(path), Contains(path) && Contains("string lists") && Contains("CRC-32"));
}

TEST_CASE("a checkpoint written without checksums (by another tool) loads", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("by_hand.safetensors");
  attend::SafetensorsFile f;
  f.metadata = {{"format", "attend-checkpoint"}, {"format_version", "2"}, {"model.cell", "gru"},
                {"list.vocab.src", "[\"<pad>\",\"<s>\"]"}};
  f.tensors = {{"decoder.out.bias", {2}, {1.0f, -2.0f}}, {"optimizer/decoder.out.bias.exp_avg", {2}, {0.5f, 0.25f}}};
  write_bytes(path, attend::encode_safetensors(f));
  const auto ck = attend::load_checkpoint_file(path);
  CHECK(ck.config == std::map<std::string, std::string>{{"model.cell", "gru"}});
  CHECK(ck.string_lists.at("vocab.src") == std::vector<std::string>{"<pad>", "<s>"});
  REQUIRE(ck.tensors.size() == 1);
  CHECK(ck.tensors[0].data == std::vector<float>{1.0f, -2.0f});
  REQUIRE(ck.optimizer.size() == 1);
  CHECK(ck.optimizer[0].name == "decoder.out.bias.exp_avg");
}

TEST_CASE("loading a safetensors file without the format entry says it is not an attend checkpoint",
          "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("foreign.safetensors");
  attend::SafetensorsFile f;
  f.tensors = {{"weights", {3}, {1, 2, 3}}};
  write_bytes(path, attend::encode_safetensors(f));
  CHECK_THAT(load_error(path), Contains(path) && Contains("not an attend checkpoint"));
}

TEST_CASE("loading a checkpoint of a newer format version names both versions", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("future.safetensors");
  attend::SafetensorsFile f;
  f.metadata = {{"format", "attend-checkpoint"}, {"format_version", "3"}};
  write_bytes(path, attend::encode_safetensors(f));
  CHECK_THAT(load_error(path), Contains(path) && Contains("format_version is '3'; this build reads version 2"));
}

TEST_CASE("loading a checkpoint whose tensor holds integers names the dtype", "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("ints.safetensors");
  const std::string header =
      R"({"__metadata__":{"format":"attend-checkpoint","format_version":"2"},)"
      R"("encoder.embedding.weight":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})";
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  write_bytes(path, bytes + header + std::string(4, '\0'));
  CHECK_THAT(load_error(path), Contains(path) && Contains("encoder.embedding.weight") && Contains("dtype I32"));
}

TEST_CASE("loading a version-1 HDF5 checkpoint names the conversion command instead of parsing it",
          "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("old.h5");
  attend::save_checkpoint_file_hdf5(path, sample());
  CHECK_THAT(load_error(path), Contains(path) && Contains("version-1 (HDF5)") && Contains("attend convert-checkpoint"));
}

TEST_CASE("a version-1 HDF5 checkpoint reads back through the conversion reader unchanged", "[checkpoint]") {
  TempDir tmp;
  const std::string old_path = tmp.file("old.h5"), new_path = tmp.file("new.safetensors");
  const auto ck = sample();
  attend::save_checkpoint_file_hdf5(old_path, ck);
  attend::save_checkpoint_file(new_path, attend::load_checkpoint_file_hdf5(old_path));
  const auto back = attend::load_checkpoint_file(new_path);
  CHECK(back.config == ck.config);
  CHECK(back.string_lists == ck.string_lists);
  REQUIRE(back.tensors.size() == ck.tensors.size());
  for (std::size_t i = 0; i < ck.tensors.size(); ++i) CHECK(back.tensors[i].data == ck.tensors[i].data);
}

TEST_CASE("the HDF5 conversion reader refuses an HDF5 file without the format attribute", "[checkpoint]") {
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
  CHECK_THROWS_WITH(attend::load_checkpoint_file_hdf5(path), Contains(path) && Contains("is not an attend checkpoint"));
}

TEST_CASE("a model file whose configuration claims sizes its tensors cannot hold is refused before building",
          "[checkpoint]") {
  TempDir tmp;
  const std::string path = tmp.file("huge.safetensors");
  attend::CheckpointFile ck;
  ck.config = {{"model.hidden", "1000000000"}, {"model.src_vocab", "5"}, {"model.tgt_vocab", "5"}};
  ck.string_lists = {{"vocab.src", {"<pad>", "<s>", "</s>", "<unk>", "a"}},
                     {"vocab.tgt", {"<pad>", "<s>", "</s>", "<unk>", "b"}}};
  ck.tensors = {tensor("decoder.out.bias", {5}, 0.0f)};
  attend::save_checkpoint_file(path, ck);
  try {
    attend::load_model(path);
    FAIL("a configuration with hidden = 10^9 loaded");
  } catch (const attend::Error& e) {
    CHECK_THAT(e.what(), Contains(path) && Contains("layers x hidden x hidden") && Contains("damaged configuration"));
  }
}
