#include "attend/io/checkpoint.hpp"

#include "attend/io/checkpoint_file.hpp"
#include "attend/core/error.hpp"
#include "attend/text/pipeline.hpp"

#include <map>
#include <utility>

namespace attend {

namespace {
const char* kModelPrefix = "model.";
const char* kInfoPrefix = "info.";
const char* kTrainPrefix = "train_state.";
const char* kSubwordSrc = "subword.src";
const char* kSubwordTgt = "subword.tgt";

std::string shape_text(const std::vector<std::size_t>& s) {
  std::string t = "(";
  for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + ")";
}
// Every model holds a decoder W_hh (G·H × H) per layer, two embeddings (emb × V) and an output
// layer (V × H), location attention a W_a (max_src_len × H). A configuration whose sizes cannot
// fit in the values the file holds is damaged or hostile, and is refused before the model is
// built: hidden = 10^9 must not allocate gigabytes.
void check_sizes_fit(const ModelConfig& c, const CheckpointFile& f) {
  double values = 0;
  for (const Tensor& t : f.tensors) values += double(t.data.size());
  const double H = double(c.hidden);
  const std::pair<const char*, double> needs[] = {
      {"layers x hidden x hidden", double(c.layers) * H * H},
      {"emb x src_vocab", double(c.emb) * double(c.src_vocab)},
      {"emb x tgt_vocab", double(c.emb) * double(c.tgt_vocab)},
      {"hidden x tgt_vocab", H * double(c.tgt_vocab)},
      {"max_src_len x hidden", c.source_limit() ? double(c.max_src_len) * H : 0.0}};
  for (const auto& [what, need] : needs)
    if (need > values)
      throw Error("the configuration needs at least " + std::string(what) + " = " + std::to_string(need) +
                  " parameter values but the file holds " + std::to_string(values) + " (damaged configuration?)");
}

}  // namespace

std::vector<std::string> ModelBundle::tokenize_source(const std::string& line) const {
  return tokenize_with(tokenizer, src_subword.get(), line, "source");
}
std::vector<std::string> ModelBundle::tokenize_target(const std::string& line) const {
  return tokenize_with(tokenizer, tgt_subword.get(), line, "target");
}
std::string ModelBundle::detokenize_source(const std::vector<std::string>& tokens) const {
  return detokenize_with(tokenizer, src_subword.get(), tokens, "source");
}
std::string ModelBundle::detokenize_target(const std::vector<std::string>& tokens) const {
  return detokenize_with(tokenizer, tgt_subword.get(), tokens, "target");
}

void save_model(const std::string& path, const ModelBundle& bundle) {
  if (!bundle.model) throw Error("cannot save checkpoint '" + path + "': no model");
  CheckpointFile f;
  for (const auto& kv : bundle.model->config().to_map()) f.config[kModelPrefix + kv.first] = kv.second;
  for (const auto& kv : bundle.info) f.config[kInfoPrefix + kv.first] = kv.second;
  f.config["tokenizer"] = tokenizer_name(bundle.tokenizer);
  f.string_lists["vocab.src"] = bundle.src_vocab.tokens();
  f.string_lists["vocab.tgt"] = bundle.tgt_vocab.tokens();
  if (bundle.tokenizer == Tokenizer::Spm) {
    if (!bundle.src_subword || !bundle.tgt_subword)
      throw Error("cannot save checkpoint '" + path + "': the spm tokenizer needs both SentencePiece models");
    f.string_lists[kSubwordSrc] = {base64_encode(bundle.src_subword->serialized())};
    f.string_lists[kSubwordTgt] = {base64_encode(bundle.tgt_subword->serialized())};
  }
  if (bundle.train_state)
    for (const auto& kv : bundle.train_state->to_map()) f.config[kTrainPrefix + kv.first] = kv.second;
  const auto& P = bundle.model->params();
  for (std::size_t i = 0; i < P.entries().size(); ++i)
    f.tensors.push_back({P.entries()[i].name, P.torch_shape(i), P.torch_data(i)});
  if (bundle.train_state)
    for (const auto& [buffer, flat] : bundle.train_state->optimizer.buffers)
      for (std::size_t i = 0; i < P.entries().size(); ++i)
        f.optimizer.push_back({P.entries()[i].name + "." + buffer, P.torch_shape(i), P.torch_data(i, flat)});
  save_checkpoint_file(path, f);
}

ModelBundle load_model(const std::string& path) { return bundle_from_checkpoint(load_checkpoint_file(path), path); }

ModelBundle bundle_from_checkpoint(const CheckpointFile& f, const std::string& path) {
  auto fail = [&](const std::string& problem) {
    return Error("checkpoint '" + path + "' is invalid: " + problem);
  };
  std::map<std::string, std::string> cfg, train_state;
  ModelBundle bundle;
  const std::string train_prefix = kTrainPrefix;
  for (const auto& kv : f.config) {
    if (kv.first.rfind(kModelPrefix, 0) == 0) cfg[kv.first.substr(6)] = kv.second;
    else if (kv.first.rfind(kInfoPrefix, 0) == 0) bundle.info[kv.first.substr(5)] = kv.second;
    else if (kv.first.rfind(train_prefix, 0) == 0) train_state[kv.first.substr(train_prefix.size())] = kv.second;
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
    if (bundle.tokenizer == Tokenizer::Spm) {
      auto subword = [&](const char* name) {
        const auto it = f.string_lists.find(name);
        if (it == f.string_lists.end() || it->second.size() != 1)
          throw Error(std::string("the spm tokenizer's SentencePiece model (") + name + ") is missing");
        return std::make_shared<const SubwordModel>(SubwordModel::from_serialized(base64_decode(it->second[0])));
      };
      bundle.src_subword = subword(kSubwordSrc);
      const auto tgt_list = f.string_lists.find(kSubwordTgt);
      const bool shared = tgt_list != f.string_lists.end() && tgt_list->second == f.string_lists.at(kSubwordSrc);
      bundle.tgt_subword = shared ? bundle.src_subword : subword(kSubwordTgt);
    }
    if (!train_state.empty()) bundle.train_state = TrainState::from_map(train_state);
    ModelConfig config = ModelConfig::from_map(cfg);
    check_sizes_fit(config, f);
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
  if (!f.optimizer.empty()) {
    if (!bundle.train_state) throw fail("it holds optimizer state but no training state");
    auto& buffers = bundle.train_state->optimizer.buffers;
    std::map<std::string, std::size_t> covered;
    for (const Tensor& t : f.optimizer) {
      const std::size_t dot = t.name.rfind('.');
      const long id = dot == std::string::npos ? -1 : P.find(t.name.substr(0, dot));
      if (id < 0) throw fail("optimizer state '" + t.name + "' names no parameter of this model");
      if (t.shape != P.torch_shape(id))
        throw fail("optimizer state '" + t.name + "' has shape " + shape_text(t.shape) + ", expected " +
                   shape_text(P.torch_shape(id)));
      const std::string buffer = t.name.substr(dot + 1);
      Col<float>& flat = buffers[buffer];
      if (flat.is_empty()) flat.zeros(P.size());
      P.set_from_torch_data(id, t.data, flat);
      ++covered[buffer];
    }
    for (const auto& [buffer, count] : covered)
      if (count != P.entries().size())
        throw fail("optimizer state '" + buffer + "' covers " + std::to_string(count) + " of " +
                   std::to_string(P.entries().size()) + " parameters");
  }
  return bundle;
}

}  // namespace attend
