// The checkpoint file: configuration, string lists and named float tensors in one HDF5 file
// that h5py reads directly (tensors in PyTorch state_dict names, shapes and row-major order).
// The layout is described in docs/checkpoint.md.
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

// The newest layout this build writes and reads.
constexpr int kCheckpointVersion = 1;

// Writes `path.tmp.<pid>`, flushes and fsyncs it, then renames it over `path`: readers see the
// old file or the new one, never a partial one. On failure the old file is left untouched.
void save_checkpoint_file(const std::string& path, const CheckpointFile& checkpoint);

// Throws Error naming the path and the problem for a missing, foreign, newer or damaged file.
CheckpointFile load_checkpoint_file(const std::string& path);

}  // namespace attend
