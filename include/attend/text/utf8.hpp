// UTF-8: validation, code points, lower-casing. Every part of attend that looks inside UTF-8
// text goes through these.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace attend {

// Length in bytes of the valid UTF-8 sequence starting at text[i], or 0 when it is invalid
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_sequence_length(const std::string& text, std::size_t i);

// Byte offset of the first invalid UTF-8 sequence, or std::string::npos when the text is valid.
std::size_t find_invalid_utf8(const std::string& text);

// Code points of valid UTF-8 text (the bytes that are not continuation bytes).
std::size_t code_points(const std::string& text);

// The first n code points of text.
std::string utf8_prefix(const std::string& text, std::size_t n);

// Lower-cases A-Z and the upper-case letters of Latin-1, Latin Extended-A, Greek and Cyrillic
// (the letters whose lower case is one code point of the same UTF-8 length class); other
// characters are unchanged.
std::string utf8_lowercase(const std::string& text);
// Appends the UTF-8 encoding of code point cp.
void append_utf8(std::string& out, char32_t cp);

// Byte length of the whitespace character at text[i] (whitespace as Python's str.split() sees it:
// ASCII and the Unicode White_Space characters), or 0.
std::size_t utf8_whitespace_length(const std::string& text, std::size_t i);

// The words of text between runs of that whitespace, like Python's str.split().
std::vector<std::string> split_unicode_whitespace(const std::string& text);

}  // namespace attend
