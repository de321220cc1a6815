// Checkpoint averaging (docs/training.md, "Checkpoint averaging"): the element-wise mean of the
// parameters of several checkpoints of one model, as Marian's average script and Sockeye's
// average command compute it. The models must have the same configuration ("model.<key>",
// "tokenizer") and the same vocabularies and subword models; the sum runs in double and is stored
// as float, so the average of one model is that model bit for bit.
#pragma once
#include <string>
#include <vector>

#include "attend/io/checkpoint_file.hpp"

namespace attend {

// The average of checkpoints already read; names[i] names checkpoints[i] in errors. The result
// holds the first checkpoint's configuration and metadata (model keys, tokenizer, info, vocabularies,
// subword models) without its training state ("train_state.*" keys) or optimizer buffers, and the
// tensors in the first checkpoint's order. With more than one checkpoint it records
// "info.averaged-from" = the number of checkpoints averaged. Throws Error naming both files and the
// differing key, list or tensor when two checkpoints cannot be averaged, and for no checkpoints.
CheckpointFile average_checkpoints(const std::vector<CheckpointFile>& checkpoints,
                                   const std::vector<std::string>& names);

// Reads each file (load_model's checks: it must hold a model), averages them and writes the
// result atomically to `out` (write_file_atomic): an error leaves an existing `out` untouched.
// Returns the averaged checkpoint.
CheckpointFile average_checkpoint_files(const std::vector<std::string>& paths, const std::string& out);

// The element-wise mean of equally long vectors, summed in double and rounded once to float.
std::vector<float> average_values(const std::vector<const std::vector<float>*>& values);

}  // namespace attend
