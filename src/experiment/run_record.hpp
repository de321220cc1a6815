// A run's results as OUT/<run>/metrics.json (and as the message ranks exchange under mpirun).
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <nlohmann/json.hpp>

#include "attend/experiment/run_result.hpp"

namespace attend {

nlohmann::json to_json(const RunResult& run);
// The run `spec` as written by to_json, marked resumed; throws for a malformed record.
RunResult from_json(const nlohmann::json& record, const RunSpec& spec);
// A finished run's results from dir/metrics.json, or false when the run must (re)train: not
// finished, failed, damaged, or trained with other --for settings than `training`
// (VariantTraining::settings; a record without "training" ran with none).
bool read_finished(const std::filesystem::path& dir, const RunSpec& spec, RunResult& run,
                   const std::map<std::string, std::string>& training = {});

}  // namespace attend
