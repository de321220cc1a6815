#include "attend/checkpoint.hpp"

#include "attend/checkpoint_file.hpp"
#include "attend/error.hpp"

namespace attend {

namespace {
const char* kModelPrefix = "model.";
const char* kInfoPrefix = "info.";

std::string shape_text(const std::vector<std::size_t>& s) {
  std::string t = "(";
  for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + ")";
}
}  // namespace

void save_model(const std::string& path, const ModelBundle& bundle) {
  if (!bundle.model) throw Error("cannot save checkpoint '" + path + "': no model");
  CheckpointFile f;
  for (const auto& kv : bundle.model->config().to_map()) f.config[kModelPrefix + kv.first] = kv.second;
  for (const auto& kv : bundle.info) f.config[kInfoPrefix + kv.first] = kv.second;
  f.config["tokenizer"] = tokenizer_name(bundle.tokenizer);
  f.string_lists["vocab.src"] = bundle.src_vocab.tokens();
  f.string_lists["vocab.tgt"] = bundle.tgt_vocab.tokens();
  const auto& P = bundle.model->params();
  for (std::size_t i = 0; i < P.entries().size(); ++i)
    f.tensors.push_back({P.entries()[i].name, P.torch_shape(i), P.torch_data(i)});
  save_checkpoint_file(path, f);
}

ModelBundle load_model(const std::string& path) {
  CheckpointFile f = load_checkpoint_file(path);
  auto fail = [&](const std::string& problem) {
    return Error("checkpoint '" + path + "' is invalid: " + problem);
  };
  std::map<std::string, std::string> cfg;
  ModelBundle bundle;
  for (const auto& kv : f.config) {
    if (kv.first.rfind(kModelPrefix, 0) == 0) cfg[kv.first.substr(6)] = kv.second;
    else if (kv.first.rfind(kInfoPrefix, 0) == 0) bundle.info[kv.first.substr(5)] = kv.second;
  }
  if (cfg.empty()) throw fail("it holds no model configuration");
  auto src = f.string_lists.find("vocab.src"), tgt = f.string_lists.find("vocab.tgt");
  if (src == f.string_lists.end() || tgt == f.string_lists.end())
    throw fail("it holds no vocabularies (vocab.src, vocab.tgt)");
  try {
    bundle.src_vocab = Vocab(src->second);
    bundle.tgt_vocab = Vocab(tgt->second);
    auto tok = f.config.find("tokenizer");
    bundle.tokenizer = tokenizer_from_name(tok == f.config.end() ? "char" : tok->second);
    ModelConfig config = ModelConfig::from_map(cfg);
    if (config.src_vocab != bundle.src_vocab.size() || config.tgt_vocab != bundle.tgt_vocab.size())
      throw Error("vocabulary sizes do not match the configuration");
    bundle.model = std::make_unique<Seq2Seq<float>>(config, 1);
  } catch (const Error& e) {
    throw fail(e.what());
  }
  auto& P = bundle.model->params();
  std::size_t matched = 0;
  for (const Tensor& t : f.tensors) {
    const long id = P.find(t.name);
    if (id < 0) throw fail("unexpected tensor '" + t.name + "' for this configuration");
    if (t.shape != P.torch_shape(id))
      throw fail("tensor '" + t.name + "' has shape " + shape_text(t.shape) + ", expected " +
                 shape_text(P.torch_shape(id)));
    P.set_from_torch_data(id, t.data);
    ++matched;
  }
  if (matched != P.entries().size())
    for (const auto& e : P.entries())
      if (!f.find(e.name)) throw fail("tensor '" + e.name + "' is missing");
  for (std::size_t i = 0; i < P.size(); ++i)
    if (!std::isfinite(P.values()[i])) throw fail("a parameter is not a finite number");
  return bundle;
}

}  // namespace attend
