// Per-variant training settings of a grid: `attend compare --for 'SELECTOR: SETTINGS'`. A rule
// names one or more grid axis values (all must hold) and the training options of the variants it
// matches, e.g. "decoder=transformer: lr-grid=0.0003,0.001 warmup=4000 lr-schedule=inverse-sqrt".
// Later rules win over earlier ones for a variant several match. The rest of a grid's settings
// (the budget: steps, time limit, patience, validation interval, batch) stay the same for every
// variant, so the variants stay matched on them.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace attend {

struct TrainRule {
  std::string text;  // canonical: "decoder=transformer: lr-grid=0.0003,0.001 warmup=4000"
  // (grid axis field, value) pairs, e.g. ("decoder", "transformer"); all must hold.
  std::vector<std::pair<std::string, std::string>> match;
  // (setting, canonical value) in the order given; keys of train_rule_keys().
  std::vector<std::pair<std::string, std::string>> settings;
};

// Parses "SELECTOR: SETTINGS": the selector is whitespace-separated axis=value pairs (an axis by
// its model field or command-line name: cell or cells, attention, decoder, luong-output,
// encoder, or a registered axis), the settings whitespace-separated key=value pairs. Throws
// attend::Error naming the rule and the problem: no colon, an axis that is not a grid axis, a key
// that is not a training setting (a model option or a grid-wide option is refused with why), a
// bad value, a key given twice, lr together with lr-grid.
TrainRule parse_train_rule(const std::string& text);

// Parses an --only selector, "cell=gru attention=bahdanau encoder=rnn": the selector part of a
// rule alone (settings stay empty; text is the canonical selector). Throws attend::Error as above.
TrainRule parse_variant_selector(const std::string& text);

// The settings a rule may set, in help order: lr, lr-grid, warmup, lr-schedule, label-smoothing,
// dropout, clip, teacher-forcing, lr-decay, optimizer, momentum.
const std::vector<std::string>& train_rule_keys();
// One line for --help: the keys and what they mean.
std::string train_rule_help();

}  // namespace attend
