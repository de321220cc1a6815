// Embedding attend as a translator: train a tiny model on the built-in `reverse` task (or take a
// model file given as the first argument), save it, load it with attend::Translator and print
// translations, an n-best list and a row of attention weights.
#include <attend/decode/translator.hpp>
#include <attend/text/tasks.hpp>
#include <attend/train/trainer.hpp>
#include <cstdio>
#include <filesystem>

namespace {

std::string train_tiny_model() {
  using namespace attend;
  TaskOptions task;
  task.name = "reverse";
  task.train_size = 2000;
  task.min_len = 3;
  task.max_len = 8;
  const TaskData data = make_task(task);
  std::vector<std::vector<std::string>> src, tgt;
  for (const auto& e : data.train) src.push_back(e.src), tgt.push_back(e.tgt);

  ModelBundle bundle;
  bundle.src_vocab = Vocab::build(src);
  bundle.tgt_vocab = Vocab::build(tgt);
  bundle.tokenizer = Tokenizer::Char;
  bundle.info["task"] = "reverse";
  ModelConfig config;
  config.cell = "gru";
  config.attention = "bahdanau";
  config.emb = 16;
  config.hidden = 64;
  config.src_vocab = bundle.src_vocab.size();
  config.tgt_vocab = bundle.tgt_vocab.size();
  bundle.model = std::make_unique<Seq2Seq<float>>(config, /*seed=*/1);

  TrainOptions options;
  options.steps = 300;
  options.batch = 64;
  options.optimizer.lr = 5e-3;
  train(*bundle.model, encode_examples(data.train, bundle.src_vocab, bundle.tgt_vocab), {}, options);

  const std::string path = (std::filesystem::temp_directory_path() / "attend_embed_translator.safetensors").string();
  save_model(path, bundle);
  return path;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string path = argc > 1 ? argv[1] : train_tiny_model();
    const attend::Translator translator = attend::Translator::load(path);
    if (argc <= 1) std::filesystem::remove(path);

    for (const std::string line : {"abcdef", "hello", "attend"}) {
      const attend::Translation t = translator.translate(line);
      std::printf("%-8s -> %-8s  log p = %.3f\n", line.c_str(), t.text.c_str(), t.log_prob);
    }

    attend::SearchOptions beam;
    beam.beam = 4;
    beam.nbest = 3;
    beam.keep_attention = true;
    const std::vector<std::string> lines = {"stressed", "drawer"};
    const auto batch = translator.translate(lines, beam);
    for (const auto& t : batch) {
      std::printf("n-best for %s:\n", t.source.c_str());
      for (const auto& h : t.nbest)
        std::printf("  %.4f  %s%s\n", h.score, h.text.c_str(), h.finished ? "" : "  (length limit)");
    }

    const attend::Translation& first = batch.front();
    if (!first.attention.empty()) {
      std::printf("attention of the first output token '%s' over the source:\n",
                  first.tokens.empty() ? "</s>" : first.tokens.front().c_str());
      for (std::size_t j = 0; j < first.source_tokens.size(); ++j)
        std::printf("  %s %.3f\n", first.source_tokens[j].c_str(), first.attention.front()[j]);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "embed_translator: %s\n", e.what());
    return 1;
  }
}
