#include "attend/experiment/grid_axis.hpp"

#include "attend/core/error.hpp"
#include "attend/core/registry.hpp"
#include "attend/nn/attention.hpp"
#include "attend/nn/attention_fn.hpp"
#include "attend/nn/cell.hpp"
#include "attend/nn/decoder.hpp"

namespace attend {

namespace {

bool luong_style(const ModelConfig& c) { return c.style() == DecoderStyle::Luong; }
void check_decoder(const std::string& value) {
  if (!decoder_known(value))
    throw Error("unknown decoder '" + value + "' (valid: " + join_names(decoder_list(), ", ") + ")");
}
void check_cell(const std::string& value) {
  if (!cell_known(value)) throw Error("unknown cell '" + value + "' (valid: " + join_names(cell_list(), ", ") + ")");
}
void check_attention(const std::string& value) {
  if (!attention_known(value))
    throw Error("unknown attention '" + value + "' (valid: " + join_names(attention_list(), ", ") + ")");
}
void check_luong_output(const std::string& value) { parse_luong_output(value); }
void check_attention_fn(const std::string& value) { parse_attention_fn(value); }
// The normalizer applies where a strategy reads it: not to `none`, nor to the Transformer
// decoder's fused multi-head cross-attention (not built yet), which keep softmax.
bool normalizes(const ModelConfig& c) {
  if (!attention_known(c.attention)) return false;
  const AttentionTraits t = attention_traits(c.attention);
  if (!t.attention_fn || t.decoder == DecoderStyle::None) return false;
  return !(c.style() == DecoderStyle::Transformer && c.attention == "multihead");
}

using O = CompareOptions;
using V = Variant;

std::vector<GridAxis>& table() {
  // field, option, grid.json key, help, nesting, name prefix, unnamed value, signed when unnamed,
  // applies, check, storage
  static std::vector<GridAxis> axes = {
      {"cell", "cells", "grid.cells", "cells to compare", 1, "", nullptr, true, nullptr, check_cell, &O::cells, &V::cell},
      {"attention", "attention", "grid.attention", "attention strategies", 2, "+", nullptr, true, nullptr,
       check_attention, &O::attentions, &V::attention},
      {"decoder", "decoder", "grid.decoder", "decoders (recurrent styles or transformer)", 3, "/", "auto", true, nullptr, check_decoder,
       &O::decoders, &V::decoder},
      {"luong_output", "luong-output", "grid.luong_output",
       "the luong style's output h~ = tanh(W_c[c; h]) or without the tanh, a grid axis of the luong-style variants",
       4, "+", "tanh", false, luong_style, check_luong_output, &O::luong_outputs, &V::luong_output},
      {"encoder", "encoder", "grid.encoder", "source encoders, a grid axis", 0, "@", "rnn", false, nullptr, nullptr,
       &O::encoders, &V::encoder},
      // Widths as axes (a list of two or more; one value is the shared model's, as before): the
      // scaling experiment varies d_k = hidden / heads with the model width fixed, or the width.
      {"hidden", "hidden", "grid.hidden", "hidden width d_model (one value, or a grid axis)", 5, "~hidden", nullptr,
       true, nullptr, nullptr},
      {"heads", "heads", "grid.heads", "heads of the multi-head and per-head attention (one value, or a grid axis)",
       6, "~heads", nullptr, true, nullptr, nullptr},
      // The normalizer (issue 28): softmax is unnamed and unsigned, so older grids keep their
      // names and grid.json; a list of two or more is an axis (~sparsemax, ~entmax15 in the names).
      {"attention_fn", "attention-fn", "grid.attention_fn",
       "normalizers of the attention weights (one value, or a grid axis; not applied to --attention none nor to "
       "the Transformer decoder's multihead cross-attention)",
       7, "~", "softmax", false, normalizes, check_attention_fn},
  };
  return axes;
}

const ModelField& model_field(const std::string& key) {
  for (const ModelField& f : model_fields())
    if (f.key == key) return f;
  throw Error("'" + key + "' is not a model field (model_fields())");
}

}  // namespace

const std::vector<GridAxis>& grid_axes() { return table(); }

void register_grid_axis(const GridAxis& axis) {
  model_field(axis.field);
  for (const GridAxis& a : table())
    if (std::string(a.field) == axis.field || std::string(a.option) == axis.option ||
        std::string(a.signature_key) == axis.signature_key)
      throw Error(std::string("the grid axis ") + axis.field + " (--" + axis.option + ", " + axis.signature_key +
                  ") clashes with the axis " + a.field);
  table().push_back(axis);
}

const std::vector<std::string>* axis_values(const CompareOptions& o, const GridAxis& axis) {
  if (axis.values) return &(o.*axis.values);
  auto it = o.more_axes.find(axis.field);
  return it == o.more_axes.end() ? nullptr : &it->second;
}

void set_axis_values(CompareOptions& o, const GridAxis& axis, std::vector<std::string> values) {
  (axis.values ? o.*axis.values : o.more_axes[axis.field]) = std::move(values);
}

const std::string* axis_value(const Variant& v, const GridAxis& axis) {
  if (axis.value) return &(v.*axis.value);
  auto it = v.more_axes.find(axis.field);
  return it == v.more_axes.end() ? nullptr : &it->second;
}

void set_axis_value(Variant& v, const GridAxis& axis, const std::string& value) {
  (axis.value ? v.*axis.value : v.more_axes[axis.field]) = value;
}

void apply_axis(const GridAxis& axis, ModelConfig& config, const std::string& value) {
  if (axis.check) axis.check(value);
  model_field(axis.field).set(config, value);
}

std::string changeable_axes_text() {
  std::string text;
  for (const GridAxis& axis : grid_axes()) text += std::string("--") + axis.option + ", ";
  text.erase(text.size() - 2);
  return text + " and --seeds";
}

}  // namespace attend
