// One hypothesis's attention weights for plotting elsewhere: SVG heatmap, JSON, CSV.
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "attend/decode/search.hpp"

namespace attend {

// `weights` rows are output tokens (</s> included when the hypothesis finished), columns source
// positions. `out` may omit </s>; rows beyond out.size() are labelled "</s>".
// SVG: a standalone heatmap with the source tokens on the x axis and the output tokens on the y axis.
// Text for XML and HTML: & < > " ' as entities.
std::string xml_escape(const std::string& s);

// `view` picks the weights drawn or written: "mean" (kDefaultAttentionViewName, the default) is
// Hypothesis::attention, else one of h.view_names ("layer 1 head 0", kept with
// SearchOptions::keep_attention_views). An unknown view throws attend::Error naming the valid ones.
void write_attention_svg(const Hypothesis& h, const std::vector<std::string>& src,
                         const std::vector<std::string>& out, std::ostream& stream,
                         const std::string& view = kDefaultAttentionViewName);
// JSON: {"source": [...], "output": [...], "weights": [[...], ...], "view": "mean", "log_prob": x,
// "score": x, "finished": b}: "weights" is the view `view`. When h has views (a Transformer
// decoder), also "views": {"layer 0 head 0": [[...], ...], ...} (every view, rows as "weights")
// "view_names" (their names in layer/head order) and "default_view": "mean over the last layer's
// heads" (what "mean" is). When h has encoder views (a self-attention encoder), also
// "encoder_views": {"encoder layer 0 head 0": [[...], ...], ...} (rows: query positions, columns:
// key positions, both over the source) and "encoder_view_names".
void write_attention_json(const Hypothesis& h, const std::vector<std::string>& src,
                          const std::vector<std::string>& out, std::ostream& stream,
                          const std::string& view = kDefaultAttentionViewName);
// CSV: a header "output\\source,<src tokens...>" then one row per output token (RFC 4180 quoting).
void write_attention_csv(const Hypothesis& h, const std::vector<std::string>& src,
                         const std::vector<std::string>& out, std::ostream& stream,
                         const std::string& view = kDefaultAttentionViewName);

// The heatmap as an inline <svg> element (used by write_attention_svg and the HTML report).
// gold: per output row, the source position of a reference alignment drawn as a dot (−1: none).
std::string attention_svg(const std::vector<std::string>& src, const std::vector<std::string>& out,
                          const std::vector<std::vector<float>>& weights, const std::string& title = "",
                          const std::vector<int>& gold = {});

}  // namespace attend
