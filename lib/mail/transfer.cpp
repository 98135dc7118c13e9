#include "mail/transfer.h"

#include <algorithm>
#include <array>
#include <cstdint>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

}  // namespace

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

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

// Per byte: 1 when it cannot appear in base64 text, 2 when it is white space or '='
// (present, but not a sextet), 0 for the alphabet.
constexpr std::array<uint8_t, 256> make_scan_table() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = kClass[c] == -1 ? 1 : kClass[c] < 0 ? 2 : 0;
  return t;
}
constexpr auto kScan = make_scan_table();

// One pass: whether every byte is allowed in base64 text, and how many are not sextets
// (white space and '='). SSE2 (baseline on x86-64) takes 16 bytes a step; the table
// handles the tail and other machines.
bool base64_scan(std::string_view in, size_t* non_sextets) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t n = in.size(), i = 0, others = 0;
#ifdef __SSE2__
  // Signed byte compares: bytes >= 0x80 are negative and fall outside every range.
  auto in_range = [](__m128i v, char lo, char hi) {
    return _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(static_cast<char>(lo - 1))),
                         _mm_cmplt_epi8(v, _mm_set1_epi8(static_cast<char>(hi + 1))));
  };
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
    __m128i sextet = _mm_or_si128(
        _mm_or_si128(in_range(lower, 'a', 'z'), in_range(v, '0', '9')),
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('+')),
                     _mm_cmpeq_epi8(v, _mm_set1_epi8('/'))));
    __m128i other = _mm_or_si128(
        _mm_or_si128(in_range(v, '\t', '\r'), _mm_cmpeq_epi8(v, _mm_set1_epi8(' '))),
        _mm_cmpeq_epi8(v, _mm_set1_epi8('=')));
    int ok = _mm_movemask_epi8(_mm_or_si128(sextet, other));
    if (ok != 0xffff) return false;
    others += static_cast<size_t>(__builtin_popcount(_mm_movemask_epi8(other)));
  }
#endif
  for (; i < n; ++i) {
    uint8_t t = kScan[p[i]];
    if (t & 1) return false;
    others += t >> 1;
  }
  *non_sextets = others;
  return true;
}

size_t base64_decoded_size(std::string_view in) {
  // Fast path for the common shape: clean text whose '=' padding, if any, comes only at
  // the end. Then every byte that is not white space or '=' is a sextet.
  size_t first_pad = in.find('=');
  bool tail_only = true;
  for (size_t i = first_pad; i != std::string_view::npos && i < in.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c != '=' && kScan[c] != 2) {
      tail_only = false;
      break;
    }
  }
  size_t other = 0;
  if (tail_only && base64_scan(in, &other)) {
    size_t sextets = in.size() - other;
    size_t rem = sextets % 4;
    return sextets / 4 * 3 + (rem >= 2 ? rem - 1 : 0);
  }
  bool clean = true;
  return base64_pass<false>(in, nullptr, &clean);
}

bool base64_is_clean(std::string_view in) {
  size_t other = 0;
  return base64_scan(in, &other);
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
      int hi = hex_digit(in[i + 1]), lo = hex_digit(in[i + 2]);
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
