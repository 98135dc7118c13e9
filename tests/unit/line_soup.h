// Inputs for line-ending properties: strings of CR, LF, 'a' and 'b' of every length up to
// 69, from a fixed linear congruential sequence (the same strings on every run).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

inline std::vector<std::string> line_soup(uint32_t seed, int count) {
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(count));
  for (int n = 0; n < count; ++n) {
    std::string s;
    size_t len = static_cast<size_t>(n % 70);
    for (size_t i = 0; i < len; ++i) {
      seed = seed * 1103515245 + 12345;
      s += "\r\nab"[(seed >> 16) % 4];
    }
    out.push_back(std::move(s));
  }
  return out;
}
