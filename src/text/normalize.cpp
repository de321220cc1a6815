#include "attend/text/normalize.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

#include "attend/core/error.hpp"
#include "attend/text/corpus.hpp"
#include "attend/text/utf8.hpp"

namespace attend {

namespace {

// ---- tables -------------------------------------------------------------------------------------

// Generated once from the Unicode Character Database (Python 3.11's unicodedata, Unicode 14.0) by
// tools/normalize_tables.py and checked in; docs/normalization.md lists the Latin-1 and Latin
// Extended-A part.
#include "normalize_tables.inc"

// The ASCII forms of the characters of Latin-1 and Latin Extended-A that have no canonical
// decomposition to an ASCII letter, and of common typographic punctuation, spaces and ligatures
// (`ascii`). Sorted by code point.
constexpr std::pair<char32_t, const char*> kAsciiTable[] = {
    {0x00A0, " "},   {0x00A1, "!"},   {0x00AA, "a"},    {0x00AB, "\""},  {0x00AD, ""},
    {0x00B2, "2"},   {0x00B3, "3"},   {0x00B4, "'"},    {0x00B9, "1"},   {0x00BA, "o"},
    {0x00BB, "\""},  {0x00BC, "1/4"}, {0x00BD, "1/2"},  {0x00BE, "3/4"}, {0x00BF, "?"},
    {0x00C6, "AE"},  {0x00D0, "D"},   {0x00D7, "x"},    {0x00D8, "O"},   {0x00DE, "TH"},
    {0x00DF, "ss"},  {0x00E6, "ae"},  {0x00F0, "d"},    {0x00F8, "o"},   {0x00FE, "th"},
    {0x0110, "D"},   {0x0111, "d"},   {0x0126, "H"},    {0x0127, "h"},   {0x0131, "i"},
    {0x0132, "IJ"},  {0x0133, "ij"},  {0x0138, "q"},    {0x013F, "L"},   {0x0140, "l"},
    {0x0141, "L"},   {0x0142, "l"},   {0x0149, "'n"},   {0x014A, "NG"},  {0x014B, "ng"},
    {0x0152, "OE"},  {0x0153, "oe"},  {0x0166, "T"},    {0x0167, "t"},   {0x017F, "s"},
    {0x02BC, "'"},   {0x1E9E, "SS"},   {0x2000, " "},    {0x2001, " "},   {0x2002, " "},
    {0x2003, " "},   {0x2004, " "},   {0x2005, " "},    {0x2006, " "},   {0x2007, " "},
    {0x2008, " "},   {0x2009, " "},   {0x200A, " "},    {0x200B, ""},    {0x2010, "-"},
    {0x2011, "-"},   {0x2012, "-"},   {0x2013, "-"},    {0x2014, "-"},   {0x2015, "-"},
    {0x2018, "'"},   {0x2019, "'"},   {0x201A, "'"},    {0x201B, "'"},   {0x201C, "\""},
    {0x201D, "\""},  {0x201E, "\""},  {0x201F, "\""},   {0x2026, "..."}, {0x202F, " "},
    {0x2032, "'"},   {0x2033, "\""},  {0x2039, "'"},    {0x203A, "'"},   {0x2044, "/"},
    {0x205F, " "},   {0x2212, "-"},   {0x3000, " "},    {0xFB00, "ff"},  {0xFB01, "fi"},
    {0xFB02, "fl"},  {0xFB03, "ffi"}, {0xFB04, "ffl"},  {0xFB05, "st"},  {0xFB06, "st"},
};

template <typename Table>
auto find_in(const Table& table, char32_t c) -> decltype(&table[0]) {
  const auto* end = std::end(table);
  const auto* it = std::lower_bound(std::begin(table), end, c,
                                    [](const auto& entry, char32_t key) { return entry.first < key; });
  return it != end && it->first == c ? it : nullptr;
}

// Combining marks (the blocks of combining diacritics: U+0300-036F, U+1AB0-1AFF, U+1DC0-1DFF,
// U+20D0-20FF, U+FE20-FE2F).
bool is_combining(char32_t c) {
  return (c >= 0x300 && c <= 0x36F) || (c >= 0x1AB0 && c <= 0x1AFF) || (c >= 0x1DC0 && c <= 0x1DFF) ||
         (c >= 0x20D0 && c <= 0x20FF) || (c >= 0xFE20 && c <= 0xFE2F);
}

// ---- UTF-8 --------------------------------------------------------------------------------------


// Calls f(code point, its bytes) for each character; an invalid byte is passed on as it is, as
// code point 0xFFFFFFFF (the corpus reader has refused invalid UTF-8 before any of this runs).
template <typename F>
void for_each_char(const std::string& text, F f) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_sequence_length(text, i);
    if (n == 0) {
      f(char32_t(0xFFFFFFFF), std::string_view(text).substr(i, 1));
      ++i;
      continue;
    }
    const auto b = [&](std::size_t k) { return char32_t(static_cast<unsigned char>(text[i + k])); };
    char32_t cp;
    if (n == 1) cp = b(0);
    else if (n == 2) cp = ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    else if (n == 3) cp = ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    else cp = ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
    f(cp, std::string_view(text).substr(i, n));
    i += n;
  }
}

std::vector<char32_t> code_points_of(const std::string& text, const std::string& what) {
  if (find_invalid_utf8(text) != std::string::npos) throw Error(what + ": invalid UTF-8");
  std::vector<char32_t> out;
  for_each_char(text, [&](char32_t c, std::string_view) { out.push_back(c); });
  return out;
}

char32_t decomposed_base(char32_t c) {
  const auto* d = find_in(kDecomposed, c);
  return d ? d->second : c;
}

// ---- steps --------------------------------------------------------------------------------------

std::string insert_spaces(const std::string& text, const std::vector<char32_t>& chars, bool after) {
  std::string out;
  for_each_char(text, [&](char32_t c, std::string_view bytes) {
    const bool hit = std::find(chars.begin(), chars.end(), c) != chars.end();
    if (hit) out += ' ';
    out += bytes;
    if (hit && after) out += ' ';
  });
  return out;
}

std::string drop_chars(const std::string& text, const std::vector<char32_t>& chars, bool all_punctuation,
                       const std::vector<char32_t>& spared) {
  std::string out;
  for_each_char(text, [&](char32_t c, std::string_view bytes) {
    const bool drop = all_punctuation
                          ? is_punctuation_or_symbol(c) && std::find(spared.begin(), spared.end(), c) == spared.end()
                          : std::find(chars.begin(), chars.end(), c) != chars.end();
    if (drop) out += ' ';
    else out += bytes;
  });
  return out;
}

// A class as [first, last] ranges.
using CharClass = std::vector<std::pair<char32_t, char32_t>>;

CharClass parse_class(const std::string& value) {
  const std::vector<char32_t> cps = code_points_of(value, "keep=" + value);
  CharClass out;
  for (std::size_t i = 0; i < cps.size(); ++i) {
    if (i + 2 < cps.size() && cps[i + 1] == '-') {
      if (cps[i + 2] < cps[i])
        throw Error("keep=" + value + ": a range ends before it starts");
      out.push_back({cps[i], cps[i + 2]});
      i += 2;
    } else {
      out.push_back({cps[i], cps[i]});
    }
  }
  return out;
}

std::string keep_class(const std::string& text, const CharClass& cls) {
  std::string out;
  bool in_run = false;
  for_each_char(text, [&](char32_t c, std::string_view bytes) {
    const bool kept = std::any_of(cls.begin(), cls.end(), [c](const auto& r) { return c >= r.first && c <= r.second; });
    if (kept) {
      out += bytes;
      in_run = false;
    } else if (!in_run) {
      out += ' ';
      in_run = true;
    }
  });
  return out;
}

// ---- parsing ------------------------------------------------------------------------------------

enum class Takes { Nothing, Optional, Required };

struct StepKind {
  const char* name;
  Takes value;
  const char* help;
};

constexpr StepKind kSteps[] = {
    {"lower", Takes::Nothing, "lower-case letters"},
    {"strip-accents", Takes::Nothing, "decompose Latin letters and drop the combining marks (é → e; ß, æ, œ stay)"},
    {"ascii", Takes::Nothing,
     "strip-accents, then ASCII forms from a table (ß → ss, æ → ae, œ → oe, ’ → ', « » → \", …); others stay"},
    {"punct-split", Takes::Optional, "[=CHARS]: a space before and after each of CHARS (default .,;:!?)"},
    {"space-before", Takes::Required, "=CHARS: a space before each of CHARS"},
    {"punct-drop", Takes::Optional,
     "[=CHARS]: CHARS (default: all punctuation and symbols but those split off) become spaces"},
    {"keep", Takes::Required, "=CLASS: runs of characters outside CLASS (e.g. a-zA-Z!?) become one space"},
    {"whitespace", Takes::Nothing, "collapse runs of whitespace to one space and trim"},
};

constexpr const char* kDefaultSplit = ".,;:!?";

struct Preset {
  const char* name;
  const char* steps;
  const char* help;
};

constexpr Preset kPresets[] = {
    {"pytorch-tutorial", "lower,strip-accents,space-before=.!?,keep=a-zA-Z!?,whitespace",
     "the PyTorch translation tutorial's normalizeString (the eng-fra corpus filter)"},
    {"none", "", "no step"},
};

const StepKind* step_kind(const std::string& name) {
  for (const StepKind& k : kSteps)
    if (name == k.name) return &k;
  return nullptr;
}

const Preset* preset(const std::string& name) {
  for (const Preset& p : kPresets)
    if (name == p.name) return &p;
  return nullptr;
}

std::string valid_names() {
  std::string s;
  for (const StepKind& k : kSteps) s += std::string(s.empty() ? "" : ", ") + k.name;
  s += "; presets: ";
  bool first = true;
  for (const Preset& p : kPresets) {
    s += std::string(first ? "" : ", ") + p.name;
    first = false;
  }
  return s;
}

// Does text[i..] look like a step name: [a-z][a-z0-9-]* up to '=', ',' or the end?
bool step_name_at(const std::string& text, std::size_t i) {
  if (i >= text.size() || text[i] < 'a' || text[i] > 'z') return false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=' || c == ',') return true;
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

std::vector<std::string> split_steps(const std::string& spec) {
  std::vector<std::string> parts;
  std::string current;
  for (std::size_t i = 0; i < spec.size(); ++i) {
    const bool in_value = current.find('=') != std::string::npos;
    if (spec[i] == ',' && (!in_value || step_name_at(spec, i + 1))) {
      parts.push_back(current);
      current.clear();
      continue;
    }
    current += spec[i];
  }
  parts.push_back(current);
  return parts;
}

}  // namespace

// ---- the single steps ---------------------------------------------------------------------------

std::string fold_lower(const std::string& text) {
  std::string out;
  for_each_char(utf8_lowercase(text), [&](char32_t c, std::string_view bytes) {
    if (c == 0x130) {  // İ: i and a combining dot above, as Unicode's full lower-case mapping says
      out += "i\xCC\x87";
    } else if (c == 0x212A) {
      out += 'k';
    } else if (c == 0x212B) {
      append_utf8(out, 0xE5);
    } else if (const auto* l = find_in(kLowerLatinExtra, c)) {
      append_utf8(out, l->second);
    } else {
      out += bytes;
    }
  });
  return out;
}

std::string strip_accents(const std::string& text) {
  std::string out;
  for_each_char(text, [&](char32_t c, std::string_view bytes) {
    if (is_combining(c)) return;
    const char32_t base = decomposed_base(c);
    if (base == c) out += bytes;
    else append_utf8(out, base);
  });
  return out;
}

std::string fold_ascii(const std::string& text) {
  std::string out;
  for_each_char(text, [&](char32_t c, std::string_view bytes) {
    if (c < 0x80 || c == 0xFFFFFFFF) {
      out += bytes;
      return;
    }
    if (is_combining(c)) return;
    const char32_t base = decomposed_base(c);
    if (base < 0x80) {
      out += static_cast<char>(base);
    } else if (const auto* a = find_in(kAsciiTable, base)) {
      out += a->second;
    } else if (base >= 0xFF01 && base <= 0xFF5E) {  // fullwidth forms of ASCII
      out += static_cast<char>(base - 0xFEE0);
    } else if (base == c) {
      out += bytes;
    } else {
      append_utf8(out, base);
    }
  });
  return out;
}

bool is_punctuation_or_symbol(char32_t c) {
  if (c < 0x80) return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
                       (c >= 0x7B && c <= 0x7E);
  if (c >= 0xA1 && c <= 0xBF)  // Latin-1 punctuation and symbols, not its letters and numbers
    return c != 0xAA && c != 0xAD && c != 0xB2 && c != 0xB3 && c != 0xB5 && c != 0xB9 && c != 0xBA &&
           !(c >= 0xBC && c <= 0xBE);
  if (c == 0xD7 || c == 0xF7) return true;                           // × ÷
  if (c >= 0x2010 && c <= 0x2027) return true;                       // dashes, quotes, bullets, …
  if (c >= 0x2030 && c <= 0x205E) return true;                       // ‰ ′ ‹ › ‽ ⁄ …
  if (c >= 0x20A0 && c <= 0x20CF) return true;                       // currency signs
  if (c >= 0x2190 && c <= 0x22FF) return true;                       // arrows, mathematical operators
  if (c >= 0x3001 && c <= 0x3003) return true;                       // 、。〃
  if (c >= 0x3008 && c <= 0x3011) return true;                       // CJK brackets
  if (c >= 0xFF01 && c <= 0xFF65)                                    // fullwidth and halfwidth punctuation
    return !(c >= 0xFF10 && c <= 0xFF19) && !(c >= 0xFF21 && c <= 0xFF3A) && !(c >= 0xFF41 && c <= 0xFF5A);
  return false;
}

// ---- Normalizer ---------------------------------------------------------------------------------

Normalizer Normalizer::parse(const std::string& spec) {
  if (find_invalid_utf8(spec) != std::string::npos) throw Error("normalisation '" + spec + "': invalid UTF-8");
  Normalizer n;
  if (spec.empty()) return n;
  for (const std::string& part : split_steps(spec)) {
    const std::size_t eq = part.find('=');
    const std::string name = part.substr(0, eq);
    if (name.empty())
      throw Error("normalisation '" + spec + "': an empty step (two commas, or a comma at an end?)");
    if (const Preset* p = preset(name)) {
      if (eq != std::string::npos) throw Error("normalisation preset '" + name + "' takes no value");
      const Normalizer expanded = parse(p->steps);
      n.steps_.insert(n.steps_.end(), expanded.steps_.begin(), expanded.steps_.end());
      continue;
    }
    const StepKind* kind = step_kind(name);
    if (!kind)
      throw Error("unknown normalisation step '" + name + "' (valid: " + valid_names() +
                  "); a comma inside a value must not be followed by a step-like name");
    NormalizeStep step{name, eq == std::string::npos ? "" : part.substr(eq + 1)};
    if (kind->value == Takes::Nothing && eq != std::string::npos)
      throw Error("normalisation step '" + name + "' takes no value (got '" + part + "')");
    if (kind->value == Takes::Required && step.value.empty())
      throw Error("normalisation step '" + name + "' needs a value: " + name + kind->help);  // "=CHARS: ..."
    if (kind->value == Takes::Optional && eq != std::string::npos && step.value.empty())
      throw Error("normalisation step '" + name + "=' has an empty value (leave out '=' for the default)");
    if (name == "keep") parse_class(step.value);
    n.steps_.push_back(std::move(step));
  }
  for (const NormalizeStep& s : n.steps_) {
    if (s.name != "punct-split" && s.name != "space-before") continue;
    for (char32_t c : code_points_of(s.value.empty() ? kDefaultSplit : s.value, s.name)) n.kept_punctuation_.push_back(c);
  }
  return n;
}

std::string Normalizer::apply(const std::string& line) const {
  std::string text = line;
  for (const NormalizeStep& s : steps_) {
    if (s.name == "lower") text = fold_lower(text);
    else if (s.name == "strip-accents") text = strip_accents(text);
    else if (s.name == "ascii") text = fold_ascii(text);
    else if (s.name == "punct-split")
      text = insert_spaces(text, code_points_of(s.value.empty() ? kDefaultSplit : s.value, s.name), true);
    else if (s.name == "space-before") text = insert_spaces(text, code_points_of(s.value, s.name), false);
    else if (s.name == "punct-drop")
      text = drop_chars(text, code_points_of(s.value, s.name), s.value.empty(), kept_punctuation_);
    else if (s.name == "keep") text = keep_class(text, parse_class(s.value));
    else if (s.name == "whitespace") text = normalize_whitespace(text);
  }
  return text;
}

std::string Normalizer::spec() const {
  std::string s;
  for (const NormalizeStep& step : steps_) {
    if (!s.empty()) s += ',';
    s += step.name;
    if (!step.value.empty()) s += "=" + step.value;
  }
  return s;
}

std::string normalization_help() {
  std::string s = "comma-separated steps, applied in order, stored in the model and applied again by translate, "
                  "eval, score and serve:";
  for (const StepKind& k : kSteps) s += std::string(" ") + k.name + (k.value == Takes::Nothing ? ": " : "") + k.help + ";";
  s += " presets:";
  for (const Preset& p : kPresets) s += std::string(" ") + p.name + ": " + p.help + (*p.steps ? std::string(" = ") + p.steps : "") + ";";
  s += " without a value: whitespace (docs/normalization.md)";
  return s;
}

}  // namespace attend
