// Writing a file so that readers see either the old content or the new one, never a part.
#pragma once
#include <string>

namespace attend {

// Writes `content` to PATH.tmp, fsyncs it, renames it over PATH and fsyncs the directory (so the
// rename survives a crash). Throws Error naming the file on failure and then leaves no PATH.tmp.
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace attend
