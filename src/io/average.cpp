#include "attend/io/average.hpp"

#include <set>

#include "attend/core/error.hpp"
#include "attend/io/checkpoint.hpp"

namespace attend {

namespace {

const std::string kTrainPrefix = "train_state.";
const std::string kInfoPrefix = "info.";

// The keys that decide whether two checkpoints hold the same model: its configuration and the
// tokenizer. info.* (free-form facts) and train_state.* may differ.
bool model_key(const std::string& key) { return key.rfind(kInfoPrefix, 0) != 0 && key.rfind(kTrainPrefix, 0) != 0; }

std::string shown(const std::string* value) { return value ? "'" + *value + "'" : "absent"; }

void check_same_model(const CheckpointFile& a, const std::string& a_name, const CheckpointFile& b,
                      const std::string& b_name) {
  auto differ = [&](const std::string& what) {
    return Error("cannot average '" + a_name + "' and '" + b_name + "': " + what);
  };
  std::set<std::string> keys;
  for (const auto& kv : a.config)
    if (model_key(kv.first)) keys.insert(kv.first);
  for (const auto& kv : b.config)
    if (model_key(kv.first)) keys.insert(kv.first);
  for (const auto& key : keys) {
    const auto ia = a.config.find(key), ib = b.config.find(key);
    const std::string* va = ia == a.config.end() ? nullptr : &ia->second;
    const std::string* vb = ib == b.config.end() ? nullptr : &ib->second;
    if (!va || !vb || *va != *vb)
      throw differ("the configuration differs in '" + key + "' (" + shown(va) + " against " + shown(vb) + ")");
  }
  std::set<std::string> lists;
  for (const auto& kv : a.string_lists) lists.insert(kv.first);
  for (const auto& kv : b.string_lists) lists.insert(kv.first);
  for (const auto& name : lists) {
    const auto ia = a.string_lists.find(name), ib = b.string_lists.find(name);
    if (ia == a.string_lists.end() || ib == b.string_lists.end())
      throw differ("'" + name + "' is in one file only");
    if (ia->second != ib->second) {
      const bool vocab = name.rfind("vocab.", 0) == 0;
      throw differ(std::string(vocab ? "the vocabulary '" : "'") + name + "' differs (" +
                   std::to_string(ia->second.size()) + " against " + std::to_string(ib->second.size()) +
                   " entries)");
    }
  }
  if (a.tensors.size() != b.tensors.size())
    throw differ("they hold " + std::to_string(a.tensors.size()) + " and " + std::to_string(b.tensors.size()) +
                 " tensors");
  for (const Tensor& t : a.tensors) {
    const Tensor* u = b.find(t.name);
    if (!u) throw differ("tensor '" + t.name + "' is in the first file only");
    if (u->shape != t.shape || u->data.size() != t.data.size()) throw differ("tensor '" + t.name + "' differs in shape");
  }
}

}  // namespace

std::vector<float> average_values(const std::vector<const std::vector<float>*>& values) {
  if (values.empty()) return {};
  const std::size_t n = values[0]->size();
  std::vector<double> sum(n, 0.0);
  for (const auto* v : values) {
    if (v->size() != n) throw Error("average_values: vectors of different lengths");
    for (std::size_t i = 0; i < n; ++i) sum[i] += double((*v)[i]);
  }
  std::vector<float> out(n);
  const double k = double(values.size());
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(sum[i] / k);
  return out;
}

CheckpointFile average_checkpoints(const std::vector<CheckpointFile>& cks, const std::vector<std::string>& names) {
  if (cks.empty()) throw Error("nothing to average: no checkpoints given");
  if (names.size() != cks.size()) throw Error("average_checkpoints: one name per checkpoint");
  for (std::size_t i = 1; i < cks.size(); ++i) check_same_model(cks[0], names[0], cks[i], names[i]);
  CheckpointFile out;
  for (const auto& kv : cks[0].config)
    if (kv.first.rfind(kTrainPrefix, 0) != 0) out.config.insert(kv);
  out.string_lists = cks[0].string_lists;
  if (cks.size() > 1) out.config["info.averaged-from"] = std::to_string(cks.size());
  for (const Tensor& t : cks[0].tensors) {
    std::vector<const std::vector<float>*> values;
    for (const auto& ck : cks) values.push_back(&ck.find(t.name)->data);
    out.tensors.push_back({t.name, t.shape, average_values(values)});
  }
  return out;
}

CheckpointFile average_checkpoint_files(const std::vector<std::string>& paths, const std::string& out) {
  if (paths.empty()) throw Error("nothing to average: no model files given");
  std::vector<CheckpointFile> cks;
  for (const auto& path : paths) {
    cks.push_back(load_checkpoint_file(path));
    bundle_from_checkpoint(cks.back(), path);  // a model, consistent: the same checks as load_model
  }
  CheckpointFile averaged = average_checkpoints(cks, paths);
  save_checkpoint_file(out, averaged);
  return averaged;
}

}  // namespace attend
