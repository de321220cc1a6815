#include "attend/serve/request.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "attend/serve/attention_summary.hpp"
#include "attend/text/utf8.hpp"

namespace attend {

namespace {

using nlohmann::json;

const char* type_name(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

[[noreturn]] void bad(const std::string& message) { throw RequestError(400, message); }

// A whole number in [1, limit]: 3 and 3.0 are accepted, 3.5, -1, "3" and true are not.
std::size_t count_field(const json& v, const char* name, std::size_t limit) {
  const std::string range = "from 1 to " + std::to_string(limit);
  if (!v.is_number()) bad(std::string("\"") + name + "\" must be a whole number " + range + ", not " + type_name(v));
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (!(x >= 1 && x <= double(limit) && x == static_cast<double>(static_cast<long long>(x))))
      bad(std::string("\"") + name + "\" must be a whole number " + range + ", not " + v.dump());
    return static_cast<std::size_t>(x);
  }
  if (v.is_number_integer() && !v.is_number_unsigned() && v.get<long long>() < 1)
    bad(std::string("\"") + name + "\" must be a whole number " + range + ", not " + v.dump());
  const auto x = v.get<unsigned long long>();
  if (x < 1 || x > limit) bad(std::string("\"") + name + "\" must be a whole number " + range + ", not " + v.dump());
  return static_cast<std::size_t>(x);
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

TranslateRequest parse_translate_request(const std::string& body, const std::vector<std::string>& models,
                                         const ServeLimits& limits) {
  if (body.size() > limits.max_body_bytes)
    throw RequestError(413, "the request body has " + std::to_string(body.size()) + " bytes, more than the limit of " +
                                std::to_string(limits.max_body_bytes));
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    bad(std::string("the body is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) bad(std::string("the body must be a JSON object, not ") + type_name(j));
  static const std::vector<std::string> known = {"text", "model", "models", "beam", "nbest", "attention"};
  for (const auto& [key, value] : j.items())
    if (std::find(known.begin(), known.end(), key) == known.end())
      bad("unknown field \"" + key + "\" (known: " + joined(known) + ")");

  TranslateRequest r;
  const auto text = j.find("text");
  if (text == j.end()) bad("missing field \"text\" (a list of strings to translate)");
  if (text->is_string()) bad("\"text\" must be a list of strings, not a string: write [\"...\"]");
  if (!text->is_array()) bad(std::string("\"text\" must be a list of strings, not ") + type_name(*text));
  if (text->empty()) bad("\"text\" is empty: give at least one string to translate");
  if (text->size() > limits.max_lines)
    throw RequestError(413, "\"text\" has " + std::to_string(text->size()) + " entries, more than the limit of " +
                                std::to_string(limits.max_lines) + " per request");
  for (std::size_t i = 0; i < text->size(); ++i) {
    const json& line = (*text)[i];
    const std::string where = "\"text\"[" + std::to_string(i) + "]";
    if (!line.is_string()) bad(where + " must be a string, not " + type_name(line));
    std::string s = line.get<std::string>();
    if (s.size() > limits.max_line_bytes)
      throw RequestError(413, where + " has " + std::to_string(s.size()) + " bytes, more than the limit of " +
                                  std::to_string(limits.max_line_bytes));
    if (s.find_first_of("\n\r") != std::string::npos) bad(where + " contains a line break: give one sentence per entry");
    const std::size_t at = find_invalid_utf8(s);
    if (at != std::string::npos) bad(where + " is not valid UTF-8 (byte " + std::to_string(at + 1) + ")");
    r.text.push_back(std::move(s));
  }

  const auto unknown = [&](const std::string& name) {
    return RequestError(400, "unknown model \"" + name + "\" (loaded: " + joined(models) + ")");
  };
  r.model = models.front();
  if (const auto m = j.find("model"); m != j.end()) {
    if (!m->is_string()) bad(std::string("\"model\" must be a string, not ") + type_name(*m));
    r.model = m->get<std::string>();
    if (std::find(models.begin(), models.end(), r.model) == models.end()) throw unknown(r.model);
  }
  if (const auto m = j.find("models"); m != j.end()) {
    if (j.contains("model")) bad("give \"model\" (one) or \"models\" (several), not both");
    if (m->is_string()) {
      if (m->get<std::string>() != "all")
        bad("\"models\" must be a list of model names or \"all\", not the string " + m->dump());
      r.models = models;
    } else {
      if (!m->is_array()) bad(std::string("\"models\" must be a list of model names or \"all\", not ") + type_name(*m));
      if (m->empty()) bad("\"models\" is empty: name at least one model, or give \"all\"");
      for (std::size_t i = 0; i < m->size(); ++i) {
        const json& name = (*m)[i];
        if (!name.is_string())
          bad("\"models\"[" + std::to_string(i) + "] must be a string, not " + type_name(name));
        const std::string n = name.get<std::string>();
        if (std::find(models.begin(), models.end(), n) == models.end()) throw unknown(n);
        if (std::find(r.models.begin(), r.models.end(), n) != r.models.end())
          bad("\"models\" names \"" + n + "\" twice");
        r.models.push_back(n);
      }
    }
    r.model = r.models.front();
  }
  if (const auto b = j.find("beam"); b != j.end()) r.beam = count_field(*b, "beam", limits.max_beam);
  if (const auto n = j.find("nbest"); n != j.end()) r.nbest = count_field(*n, "nbest", limits.max_beam);
  if (r.nbest > r.beam)
    bad("\"nbest\" " + std::to_string(r.nbest) + " needs at least as wide a beam: give \"beam\": " +
        std::to_string(r.nbest));
  if (const auto a = j.find("attention"); a != j.end()) {
    if (!a->is_boolean()) bad(std::string("\"attention\" must be true or false, not ") + type_name(*a));
    r.attention = a->get<bool>();
  }
  return r;
}

namespace {

json summaries(const std::vector<std::string>& names, const std::vector<std::vector<std::vector<float>>>& views,
               const std::vector<std::vector<float>>& mean) {
  json out = json::array();
  const auto add = [&](const std::string& name, const std::vector<std::vector<float>>& rows) {
    const AttentionSummary s = summarize_attention(rows);
    out.push_back({{"view", name},
                   {"entropy", s.entropy},
                   {"uniform_entropy", s.uniform_entropy},
                   {"diagonal_mass", s.diagonal_mass},
                   {"diagonal_argmax", s.diagonal_argmax}});
  };
  add(kDefaultAttentionViewName, mean);
  for (std::size_t v = 0; v < views.size() && v < names.size(); ++v) add(names[v], views[v]);
  return out;
}

json translations_array(const std::vector<ServedTranslation>& translations, const TranslateRequest& request) {
  json out = json::array();
  for (const ServedTranslation& t : translations) {
    json nbest = json::array();
    for (const auto& h : t.nbest) nbest.push_back({{"text", h.text}, {"score", h.score}, {"tokens", h.tokens}});
    json one = {{"text", t.text},        {"score", t.score},   {"tokens", t.tokens},
                {"source_tokens", t.source_tokens}, {"finished", t.finished}, {"nbest", std::move(nbest)}};
    if (request.attention) {
      one["attention"] = t.attention;
      one["attention_summary"] = summaries(t.view_names, t.views, t.attention);
      if (!t.views.empty()) {
        json views = json::object();
        for (std::size_t v = 0; v < t.views.size() && v < t.view_names.size(); ++v) views[t.view_names[v]] = t.views[v];
        one["attention_views"] = std::move(views);
        one["attention_view_names"] = t.view_names;
        one["default_view"] = t.default_view.empty() ? std::string(kDefaultAttentionView) : t.default_view;
      }
      if (!t.encoder_views.empty()) {
        const auto mean = mean_of_last_layer(t.encoder_view_names, t.encoder_views);
        json views = json::object();
        for (std::size_t v = 0; v < t.encoder_views.size() && v < t.encoder_view_names.size(); ++v)
          views[t.encoder_view_names[v]] = t.encoder_views[v];
        one["encoder_attention"] = mean;
        one["encoder_attention_views"] = std::move(views);
        one["encoder_attention_view_names"] = t.encoder_view_names;
        one["encoder_attention_summary"] = summaries(t.encoder_view_names, t.encoder_views, mean);
      }
    }
    out.push_back(std::move(one));
  }
  return out;
}

// Invalid UTF-8 cannot come out of a vocabulary built from valid text, but a model file is
// input too: replace rather than fail.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

std::string translations_json(const std::vector<ServedTranslation>& translations, const TranslateRequest& request) {
  return dump(json({{"translations", translations_array(translations, request)}}));
}

std::string model_results_json(
    const std::vector<std::pair<std::string, std::vector<ServedTranslation>>>& results,
    const TranslateRequest& request) {
  json out = json::array();
  for (const auto& [model, translations] : results)
    out.push_back({{"model", model}, {"translations", translations_array(translations, request)}});
  return dump(json({{"results", std::move(out)}}));
}

std::string error_json(const std::string& message) { return dump(json({{"error", message}})); }

}  // namespace attend
