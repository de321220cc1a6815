// The checkpoint file: configuration, string lists and named float tensors in one safetensors
// file (format version 2) that PyTorch users read with the safetensors package or a dozen lines of
// numpy (tensors in PyTorch state_dict names, shapes and row-major order). The layout is described
// in docs/checkpoint.md.
#pragma once
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace attend {

struct Tensor {
  std::string name;                // PyTorch state_dict name, e.g. "encoder.rnn.weight_ih_l0"
  std::vector<std::size_t> shape;  // PyTorch shape, e.g. {3*H, E}; {} is a scalar
  std::vector<float> data;         // row-major (C order), as torch.Tensor.numpy() holds it
};

struct CheckpointFile {
  std::map<std::string, std::string> config;                     // key -> value text
  std::map<std::string, std::vector<std::string>> string_lists;  // e.g. "vocab.src", "vocab.tgt"
  std::vector<Tensor> tensors;                                   // loaded in the order saved
  // Optimizer state for resuming, per parameter ("<tensor name>.exp_avg", ...), in /optimizer.
  std::vector<Tensor> optimizer;

  const Tensor* find(const std::string& name) const;  // nullptr if absent
};

// The layout this build writes and reads: 2 = safetensors (1 = HDF5, read only by conversion).
constexpr int kCheckpointVersion = 2;

// The file's bytes, and back; decode_checkpoint throws Error naming `what` for anything malformed.
std::string encode_checkpoint(const CheckpointFile& checkpoint, const std::string& what);
CheckpointFile decode_checkpoint(const std::string& bytes, const std::string& what);

// Writes `path.tmp`, fsyncs it, renames it over `path` and fsyncs the directory (write_file_atomic): readers
// see the old file or the new one, never a partial one. On failure the old file is left untouched.
void save_checkpoint_file(const std::string& path, const CheckpointFile& checkpoint);

// Throws Error naming the path and the problem for a missing, empty, foreign or damaged file, a
// directory or FIFO, and a version-1 (HDF5) file (with the command that converts it).
CheckpointFile load_checkpoint_file(const std::string& path);

// Version 1 (HDF5), for `attend convert-checkpoint` and its tests only: libhdf5 is not hardened
// against damaged files, so no everyday loader calls these.
void save_checkpoint_file_hdf5(const std::string& path, const CheckpointFile& checkpoint);
CheckpointFile load_checkpoint_file_hdf5(const std::string& path);

}  // namespace attend
