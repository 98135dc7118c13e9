// Test names and failure messages for byte strings: printable ASCII as it is, every other
// byte as \xNN (gtest's own printing stops at NUL and garbles 8-bit bytes).
#pragma once

#include <string>
#include <string_view>

inline std::string printable(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}
