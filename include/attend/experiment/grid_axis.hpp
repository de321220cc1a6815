// The axes of a grid as data: each is a model field (model_fields()) the grid gives a list of
// values, with how it nests among the others, shows in a variant's name, is recorded in
// grid.json and whether it applies to a variant. The variants are the product of the axes' values
// applied to the shared ModelConfig. Adding an axis for another model field is one line of the
// table in grid_axis.cpp (or one register_grid_axis call).
#pragma once
#include <string>
#include <vector>

#include "attend/experiment/grid.hpp"
#include "attend/nn/config.hpp"

namespace attend {

struct GridAxis {
  const char* field;          // the ModelField key its values set
  const char* option;         // its command-line option, without "--": a comma-separated list
  const char* signature_key;  // the list's key in grid.json
  const char* help;           // the option's help; the field's choices follow it
  int nesting;                // 0 = the outermost loop of grid_variants
  const char* name_prefix;    // before the value in a variant's name
  // The value a variant's name leaves out (nullptr: every value shows); also the value of a
  // variant the axis does not apply to.
  const char* unnamed = nullptr;
  // Whether grid.json has the key when the list is just `unnamed`. False for the axes added after
  // grids had been written: those grids keep their signature.
  bool signed_when_unnamed = true;
  // Whether the axis applies to a variant, judged on the fields the axes nested outside it have
  // set (nullptr: always). A variant it does not apply to appears once, with `unnamed`.
  bool (*applies)(const ModelConfig& variant) = nullptr;
  // Refuses a value the field would take but a grid may not (nullptr: the field's parsing alone).
  void (*check)(const std::string& value) = nullptr;
  // Where the values live: the members the report and older callers read, or, when nullptr,
  // CompareOptions::more_axes and Variant::more_axes under the field key.
  std::vector<std::string> CompareOptions::*values = nullptr;
  std::string Variant::*value = nullptr;
};

// The axes in the order of variant names and command-line options: cells, attention, decoder,
// luong output, encoder, then any registered.
const std::vector<GridAxis>& grid_axes();
// Adds an axis; call it before any grid is built. Throws Error when the field is not a model
// field or its field, option or grid.json key belongs to an axis already.
void register_grid_axis(const GridAxis& axis);

// The values `options` give the axis; nullptr when the grid does not vary it (every variant has
// the shared model's value).
const std::vector<std::string>* axis_values(const CompareOptions& options, const GridAxis& axis);
void set_axis_values(CompareOptions& options, const GridAxis& axis, std::vector<std::string> values);
// The variant's value of the axis; nullptr when its grid does not vary it.
const std::string* axis_value(const Variant& variant, const GridAxis& axis);
void set_axis_value(Variant& variant, const GridAxis& axis, const std::string& value);
// Sets the axis's field of `config` to `value` (ModelField::set); throws Error for a value the
// axis refuses or the field cannot take.
void apply_axis(const GridAxis& axis, ModelConfig& config, const std::string& value);

// "--cells, --attention, --decoder, --luong-output, --encoder and --seeds": what may change
// between two invocations on one output directory.
std::string changeable_axes_text();

}  // namespace attend
