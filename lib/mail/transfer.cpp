#include "mail/transfer.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "mail/header.h"

namespace postern::mail {
namespace {

constexpr std::array<int8_t, 256> make_base64_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr auto kBase64 = make_base64_table();
constexpr int8_t kSkip = -2;  // white space and line breaks: skipped (RFC 2045 6.8)
constexpr int8_t kPad = -3;   // '='

// kBase64 plus the two other classes of bytes base64 text may hold.
constexpr std::array<int8_t, 256> make_class_table() {
  std::array<int8_t, 256> t = make_base64_table();
  for (unsigned char c : {' ', '\t', '\r', '\n', '\f', '\v'}) t[c] = kSkip;
  t['='] = kPad;
  return t;
}
constexpr auto kClass = make_class_table();

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
  if (iequals(v, "base64")) return Encoding::kBase64;
  if (iequals(v, "quoted-printable")) return Encoding::kQuotedPrintable;
  return Encoding::kIdentity;
}

namespace {

// One pass of the RFC 2045 6.8 decoder. With kWrite the bytes go to `w` (room for
// in.size() / 4 * 3 + 3); without, only counted. Returns the decoded length.
template <bool kWrite>
size_t base64_pass(std::string_view in, char* w, bool* clean) {
  size_t n_out = 0;
  uint32_t acc = 0;  // sextets of the current quantum, most significant first
  int have = 0;
  bool padded = false;  // a padded quantum was seen: a trailing fragment after it is junk
  auto flush = [&](int n) {  // emits the bytes of `n` collected sextets (n = 2, 3 or 4)
    if constexpr (kWrite) {
      uint32_t v = acc << (6 * (4 - n));
      w[n_out] = static_cast<char>((v >> 16) & 0xff);
      if (n >= 3) w[n_out + 1] = static_cast<char>((v >> 8) & 0xff);
      if (n >= 4) w[n_out + 2] = static_cast<char>(v & 0xff);
    }
    n_out += static_cast<size_t>(n - 1);
  };
  for (char ch : in) {
    int8_t v = kClass[static_cast<unsigned char>(ch)];
    if (v >= 0) {
      acc = (acc << 6) | static_cast<uint32_t>(v);
      if (++have == 4) {
        flush(4);
        have = 0;
        acc = 0;
      }
    } else if (v == kPad) {
      // Padding ends a quantum; a following blob starts on a fresh one.
      if (have >= 2) flush(have);
      if (have > 0) padded = true;
      have = 0;
      acc = 0;
    } else if (v != kSkip) {
      *clean = false;
    }
  }
  // Missing padding (RFC 2045 6.8 says to ignore it): decode the final fragment, unless
  // the data was padded before, which makes the fragment trailing junk.
  if (have >= 2 && !padded) flush(have);
  return n_out;
}

}  // namespace

Decoded decode_base64(std::string_view in) {
  Decoded out;
  out.data.resize(in.size() / 4 * 3 + 3);
  out.data.resize(base64_pass<true>(in, out.data.data(), &out.clean));
  return out;
}

size_t base64_decoded_size(std::string_view in) {
  bool clean = true;
  return base64_pass<false>(in, nullptr, &clean);
}

bool base64_is_clean(std::string_view in) {
  // Branch-free over blocks, so a clean multi-megabyte attachment costs one pass.
  constexpr size_t kBlock = 4096;
  for (size_t pos = 0; pos < in.size(); pos += kBlock) {
    size_t end = std::min(in.size(), pos + kBlock);
    int bad = 0;
    for (size_t i = pos; i < end; ++i) {
      bad |= kClass[static_cast<unsigned char>(in[i])] == -1;
    }
    if (bad) return false;
  }
  return true;
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
