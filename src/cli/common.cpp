#include "common.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <attend/corpus.hpp>
#include <attend/error.hpp>

namespace attend::cli {

// ---- options --------------------------------------------------------------------------------

std::string show(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}

void validate(boost::any& v, const std::vector<std::string>& tokens, Count*, int) {
  po::validators::check_first_occurrence(v);
  const std::string& s = po::validators::get_single_string(tokens);
  const bool digits = !s.empty() && s.size() <= 18 &&
                      std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) throw po::invalid_option_value(s);
  v = Count{static_cast<std::size_t>(std::stoull(s))};
}

std::ostream& operator<<(std::ostream& out, const Count& c) { return out << c.value; }

po::typed_value<Count>* count_value(std::size_t* field) {
  return po::value<Count>()->notifier([field](const Count& c) { *field = c.value; });
}

po::typed_value<Count>* count_option(std::size_t* field) {
  return count_value(field)->default_value(Count{*field});
}

bool parse_command_line(const std::vector<std::string>& args, const po::options_description& desc,
                        const std::string& usage, po::variables_map& vm) {
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  po::store(po::command_line_parser(rest).options(desc).run(), vm);
  if (!vm.count("help")) return true;
  std::cout << usage << "\n" << desc << "\n";
  return false;
}

void store_config_file(const std::string& path, const po::options_description& desc,
                       po::variables_map& vm) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read config file '" + path + "'");
  try {
    po::store(po::parse_config_file(in, desc, /*allow_unregistered=*/false), vm);
  } catch (const po::error& e) {
    throw Error("config file '" + path + "': " + e.what());
  }
}

void require(const po::variables_map& vm, const std::string& name, const std::string& command) {
  if (!vm.count(name))
    throw Error("--" + name + " is required for `attend " + command + "` (see attend " + command +
                " --help)");
}

void add_model_options(po::options_description& desc, ModelOptions& o) {
  desc.add_options()
      ("model,m", po::value<std::string>(&o.model), "model file written by `attend train` (required)")
      ("threads", count_option(&o.threads),
       "BLAS threads (0 = the library default)");
}

ModelBundle load_model_for(const ModelOptions& o, const po::variables_map& vm,
                           const std::string& command) {
  require(vm, "model", command);
  set_blas_threads(o.threads);
  return load_model(o.model);
}

// ---- text -------------------------------------------------------------------------------------

void chomp(std::string& line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read '" + path + "'");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    chomp(line);
    lines.push_back(std::move(line));
  }
  if (in.bad()) throw Error("error while reading '" + path + "'");
  return lines;
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw Error("cannot write '" + tmp + "'");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error("cannot rename '" + tmp + "' to '" + path + "'");
  }
}

std::size_t source_limit(const ModelConfig& config) {
  return config.attention == "location" ? config.max_src_len : 0;
}

std::vector<int> encode_source(const ModelBundle& bundle, const std::string& line,
                               const std::string& where) {
  std::vector<int> ids = bundle.src_vocab.encode(bundle.tokenize_source(line));
  const std::size_t limit = source_limit(bundle.model->config());
  if (limit && ids.size() > limit)
    throw Error(where + ": the source has " + std::to_string(ids.size()) +
                " tokens but this model's location attention handles at most --max-src-len " +
                std::to_string(limit) + "; shorten the line or train with a larger --max-src-len");
  return ids;
}

std::string prepare_input(const ModelBundle& bundle, const std::string& line) {
  TextOptions t;
  const auto flag = [&](const char* key) {
    const auto it = bundle.info.find(key);
    return it != bundle.info.end() && it->second == "1";
  };
  t.lowercase = flag("lowercase");
  t.normalize = flag("normalize");
  return apply_text_options(line, t);
}

std::vector<std::string> translate_encoded(const ModelBundle& b, const std::vector<EncodedPair>& pairs,
                                           const SearchOptions& opt) {
  std::vector<std::string> out(pairs.size());
  if (pairs.empty()) return out;
  if (opt.beam <= 1) {
    const EvalResult r = evaluate(*b.model, pairs, 128, true, opt);
    for (std::size_t i = 0; i < pairs.size(); ++i)
      out[i] = b.detokenize_target(b.tgt_vocab.decode(r.hypotheses[i].tokens));
    return out;
  }
  Workspace<float> ws;
  SearchOptions one = opt;
  one.nbest = 1;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto h = beam_search(*b.model, pairs[i].src, one, ws);
    out[i] = h.empty() ? "" : b.detokenize_target(b.tgt_vocab.decode(h[0].tokens));
  }
  return out;
}

namespace {

std::size_t utf8_width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The first n code points of s.
std::string utf8_prefix(const std::string& s, std::size_t n) {
  std::size_t i = 0;
  for (std::size_t seen = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && seen++ == n) break;
  return s.substr(0, i);
}

// How a token appears in a map: a space as '␣', at most 8 code points.
std::string label(const std::string& token) {
  if (token == " ") return "\u2423";
  return utf8_prefix(token, 8);
}

std::string pad(const std::string& s, std::size_t width) {
  const std::size_t w = utf8_width(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

char shade(float weight) {
  static const char kShades[] = " .:-=+*#%@";
  const int i = static_cast<int>(std::floor(double(weight) * 10));
  return kShades[std::clamp(i, 0, 9)];
}

}  // namespace

std::string attention_map(const std::vector<std::string>& src, const std::vector<std::string>& out,
                          const std::vector<std::vector<float>>& weights) {
  std::vector<std::string> cols;
  std::size_t col_width = 1;
  for (const auto& t : src) {
    cols.push_back(label(t));
    col_width = std::max(col_width, utf8_width(cols.back()));
  }
  const std::string sep = col_width > 1 ? " " : "";
  std::size_t row_width = 1;
  for (const auto& t : out) row_width = std::max(row_width, utf8_width(label(t)));

  std::ostringstream s;
  s << std::string(row_width, ' ') << " |";
  for (std::size_t j = 0; j < cols.size(); ++j) s << (j ? sep : "") << pad(cols[j], col_width);
  s << "|\n";
  const std::size_t S = src.size();
  for (std::size_t i = 0; i < out.size() && i < weights.size(); ++i) {
    s << pad(label(out[i]), row_width) << " |";
    for (std::size_t j = 0; j < S; ++j) {
      const float w = j < weights[i].size() ? weights[i][j] : 0.0f;
      s << (j ? sep : "") << std::string(col_width, shade(w));
    }
    s << "|\n";
  }
  return s.str();
}

// ---- progress ---------------------------------------------------------------------------------

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  const long long s = std::llround(seconds);
  char buf[48];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s % 3600 / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

std::string format_thousands(double value) {
  const std::string digits = std::to_string(std::llround(std::max(0.0, value)));
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string format_progress(const TrainProgress& p) {
  char loss[32];
  std::snprintf(loss, sizeof loss, "%.4f", p.loss);
  return "step " + std::to_string(p.step) + "/" + std::to_string(p.total_steps) + "  epoch " +
         std::to_string(p.epoch) + "  loss " + loss + "  " + format_thousands(p.tokens_per_s) +
         " tok/s  elapsed " + format_duration(p.elapsed_s) + "  ETA " + format_duration(p.eta_s);
}

bool stderr_is_tty() { return isatty(STDERR_FILENO) == 1; }
bool stdin_is_tty() { return isatty(STDIN_FILENO) == 1; }

}  // namespace attend::cli
