// Named normalisation steps applied to every line before tokenising (`attend train --normalize`),
// stored in the checkpoint (info.normalization) and applied again by translate, eval, score and
// serve, so that a model trained on a normalised corpus reads raw typed text the same way.
//
// A spec is a comma-separated list of steps, applied left to right (docs/normalization.md):
//   lower               lower-case letters (ASCII, Latin-1, Latin Extended-A/B and Additional,
//                       Greek, Cyrillic, the Kelvin and Angstrom signs)
//   strip-accents       canonical decomposition of Latin letters with the combining marks dropped
//                       (é → e, Å → A); letters without a decomposition (ß, æ, ø, œ) stay
//   ascii               strip-accents, then a table for the rest of Latin-1 and Latin Extended-A
//                       (ß → ss, æ → ae, œ → oe, ø → o, ł → l, þ → th, …), typographic punctuation
//                       and spaces (’ → ', « » “ ” → ", – — → -, … → ...), ligatures and fullwidth
//                       forms; characters without an ASCII form are kept
//   punct-split[=CHARS] a space before and after each of CHARS (default .,;:!?)
//   space-before=CHARS  a space before each of CHARS (the PyTorch tutorial's re.sub)
//   punct-drop[=CHARS]  each of CHARS becomes a space; without CHARS every punctuation or symbol
//                       character (docs/normalization.md) except those a punct-split or
//                       space-before of the same list names
//   keep=CLASS          every run of characters outside CLASS becomes one space; CLASS is a list
//                       of characters and ranges X-Y, like a regular-expression class (keep=a-z0-9)
//   whitespace          collapse runs of whitespace to one space and trim (normalize_whitespace)
// Presets: pytorch-tutorial = lower,strip-accents,space-before=.!?,keep=a-zA-Z!?,whitespace (the
// eng-fra corpus filter: ../shared/data/eng-fra/tutorial_filter.py, "new"). `none` is no step.
//
// A comma inside a value belongs to the value unless what follows it looks like a step name (a
// lower-case letter, then letters, digits or '-' up to '=', ',' or the end): punct-split=,.!?,lower.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace attend {

struct NormalizeStep {
  std::string name;   // lower | strip-accents | ascii | punct-split | space-before | punct-drop | keep | whitespace
  std::string value;  // CHARS or CLASS; "" when the step takes none (or takes its default)
};

class Normalizer {
 public:
  Normalizer() = default;
  // Throws attend::Error naming the bad part: an unknown step or preset, a missing or unexpected
  // value, a bad class, invalid UTF-8.
  static Normalizer parse(const std::string& spec);

  std::string apply(const std::string& line) const;

  // The steps in their canonical spelling, presets expanded ("" for none); parse(spec()) gives
  // the same normaliser.
  std::string spec() const;
  bool empty() const { return steps_.empty(); }
  const std::vector<NormalizeStep>& steps() const { return steps_; }

 private:
  std::vector<NormalizeStep> steps_;
  std::vector<char32_t> kept_punctuation_;  // named by punct-split / space-before (punct-drop spares them)
};

// The steps and presets for --help.
std::string normalization_help();

// The single steps, exposed for tests and other callers.
std::string fold_lower(const std::string& text);
std::string strip_accents(const std::string& text);
std::string fold_ascii(const std::string& text);
// True for the characters punct-drop drops without a value.
bool is_punctuation_or_symbol(char32_t c);

}  // namespace attend
