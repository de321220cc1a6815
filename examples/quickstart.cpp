// Train a GRU + Bahdanau attention model on the built-in `reverse` task and translate a few
// inputs, using only the public headers.
#include <attend/io/checkpoint.hpp>
#include <attend/text/tasks.hpp>
#include <attend/eval/evaluate.hpp>
#include <attend/train/trainer.hpp>
#include <cstdio>

int main(int argc, char** argv) {
  using namespace attend;
  TaskOptions task;
  task.name = argc > 1 ? argv[1] : "reverse";
  task.train_size = 5000;
  const TaskData data = make_task(task);

  std::vector<std::vector<std::string>> src, tgt;
  for (const auto& e : data.train) src.push_back(e.src), tgt.push_back(e.tgt);
  const Vocab src_vocab = Vocab::build(src), tgt_vocab = Vocab::build(tgt);

  ModelConfig config;
  config.cell = "gru";
  config.attention = "bahdanau";
  config.emb = 32;
  config.hidden = 128;
  config.src_vocab = src_vocab.size();
  config.tgt_vocab = tgt_vocab.size();
  Seq2Seq<float> model(config, /*seed=*/1);

  TrainOptions options;
  options.steps = argc > 2 ? std::stoul(argv[2]) : 600;
  options.optimizer.lr = 3e-3;
  const auto train_set = encode_examples(data.train, src_vocab, tgt_vocab);
  const auto valid_set = encode_examples(data.valid, src_vocab, tgt_vocab);
  train(model, train_set, valid_set, options, [](const TrainProgress& p) {
    if (p.step % 100 == 0) std::printf("step %zu  loss %.4f  %.0f tok/s\n", p.step, p.loss, p.tokens_per_s);
  });

  const auto test_set = encode_examples(data.test, src_vocab, tgt_vocab);
  const EvalResult r = evaluate(model, test_set, 128, true);
  std::printf("test exact match %.2f%%  token accuracy %.2f%%  perplexity %.3f\n",
              100 * r.exact_match, 100 * r.token_accuracy, r.perplexity);
  for (std::size_t i = 0; i < 3 && i < data.test.size(); ++i)
    std::printf("%s -> %s\n", detokenize(data.test[i].src, Tokenizer::Char).c_str(),
                detokenize(tgt_vocab.decode(r.hypotheses[i].tokens), Tokenizer::Char).c_str());
}
