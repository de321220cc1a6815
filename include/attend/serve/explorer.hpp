// The attention explorer that `attend serve` answers GET / with: one self-contained HTML page
// (inline CSS and JavaScript, SVG heatmaps, nothing fetched but this server's /v1 API).
#pragma once
#include <string>

namespace attend {

const std::string& explorer_page();

}  // namespace attend
