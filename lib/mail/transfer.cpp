#include "mail/transfer.h"

#include <array>
#include <cstdint>

namespace postern::mail {
namespace {

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

constexpr std::array<int8_t, 256> make_base64_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr auto kBase64 = make_base64_table();

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

Encoding parse_transfer_encoding(std::string_view v) {
  size_t b = 0, e = v.size();
  while (b < e && (v[b] == ' ' || v[b] == '\t' || v[b] == '\r' || v[b] == '\n')) ++b;
  while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\t' || v[e - 1] == '\r' || v[e - 1] == '\n')) {
    --e;
  }
  v = v.substr(b, e - b);
  // A trailing comment or parameter is not part of the mechanism token.
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == ' ' || v[i] == '\t' || v[i] == ';' || v[i] == '(') {
      v = v.substr(0, i);
      break;
    }
  }
  if (ieq(v, "base64")) return Encoding::kBase64;
  if (ieq(v, "quoted-printable")) return Encoding::kQuotedPrintable;
  return Encoding::kIdentity;
}

Decoded decode_base64(std::string_view in) {
  Decoded out;
  out.data.reserve(in.size() / 4 * 3 + 3);
  uint32_t quantum[4];
  int have = 0;
  bool padded = false;  // a padded quantum was seen: a trailing fragment after it is junk
  auto flush = [&](int n) {  // emits the bytes of `n` collected sextets (n = 2, 3 or 4)
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v = (v << 6) | (k < n ? quantum[k] : 0);
    out.data.push_back(static_cast<char>((v >> 16) & 0xff));
    if (n >= 3) out.data.push_back(static_cast<char>((v >> 8) & 0xff));
    if (n >= 4) out.data.push_back(static_cast<char>(v & 0xff));
  };
  for (char ch : in) {
    auto c = static_cast<unsigned char>(ch);
    int8_t v = kBase64[c];
    if (v >= 0) {
      quantum[have++] = static_cast<uint32_t>(v);
      if (have == 4) {
        flush(4);
        have = 0;
      }
    } else if (c == '=') {
      // Padding ends a quantum; a following blob starts on a fresh one.
      if (have >= 2) flush(have);
      if (have > 0) padded = true;
      have = 0;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
      continue;
    } else {
      out.clean = false;
    }
  }
  // Missing padding (RFC 2045 6.8 says to ignore it): decode the final fragment, unless
  // the data was padded before, which makes the fragment trailing junk.
  if (have >= 2 && !padded) flush(have);
  return out;
}

Decoded decode_quoted_printable(std::string_view in) {
  Decoded out;
  out.data.reserve(in.size());
  size_t i = 0, n = in.size();
  while (i < n) {
    char c = in[i];
    if (c != '=') {
      out.data.push_back(c);
      ++i;
      continue;
    }
    // Soft line break: '=' then optional white space then a line break (or the end).
    size_t j = i + 1;
    while (j < n && (in[j] == ' ' || in[j] == '\t')) ++j;
    if (j == n) {
      i = j;
      continue;
    }
    if (in[j] == '\n') {
      i = j + 1;
      continue;
    }
    if (in[j] == '\r' && j + 1 < n && in[j + 1] == '\n') {
      i = j + 2;
      continue;
    }
    if (i + 2 < n) {
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.data.push_back(static_cast<char>(hi * 16 + lo));
        i += 3;
        continue;
      }
    }
    out.clean = false;
    out.data.push_back('=');
    ++i;
  }
  return out;
}

}  // namespace postern::mail
