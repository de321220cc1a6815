// OUT/grid.json: the signature a grid was last run with (grid.cpp), read back on resume.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace attend {

// The stored signature; throws Error saying how to go on when the file is damaged.
std::map<std::string, std::string> read_grid_file(const std::filesystem::path& file);
// The differences, axes (first) and the rest (second), each as "key: old → new".
std::pair<std::vector<std::string>, std::vector<std::string>> split_differences(
    const std::map<std::string, std::string>& stored, const std::map<std::string, std::string>& current);

}  // namespace attend
