// CSV output (RFC 4180): the reports' tables and the attention matrices.
#pragma once
#include <string>

namespace attend {

// `s` as one CSV field: quoted, with inner quotes doubled, when it holds a comma, a quote or a
// line break; unchanged otherwise.
std::string csv_field(const std::string& s);

}  // namespace attend
