// DKIM canonicalization (RFC 6376 3.4), header selection (5.4.2) and body hashing (3.7).
#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "auth/dkim.h"
#include "mail/header.h"
#include "auth/dkim_internal.h"
#include "mail/message.h"
#include "mail/writer.h"

namespace postern::auth::dkim {

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

constexpr std::string_view kCrlf = "\r\n";

// A line (without its CRLF) whose canonical form is empty: dropped at the end of a body.
bool is_blank(std::string_view line, Canon c) {
  return c == Canon::kSimple ? line.empty() : line.find_first_not_of(" \t") == line.npos;
}

// The start of the line holding byte i: just after the nearest CRLF before it, or `from`
// (a line start at or before i).
size_t line_start(std::string_view body, size_t from, size_t i) {
  while (i > from && !(body[i - 1] == '\n' && i - 1 > from && body[i - 2] == '\r')) --i;
  return i;
}

// The first byte in [from, to) where relaxed canonicalization would change something: a
// tab, or an SP followed by WSP or CR (a run, or WSP before the line end; an SP before a
// bare CR is a false alarm, which only costs the careful path). Byte to - 1 is not an SP
// (the range ends with a CRLF, or with a line's last non-WSP byte), so the byte after an
// SP is always in range. Sixteen bytes at a time (GCC/Clang vectors): lane k of `here` is
// byte i + k and lane k of `next` the byte after it.
size_t find_untidy(std::string_view s, size_t from, size_t to) {
  using Bytes16 = unsigned char __attribute__((vector_size(16)));
  const char* p = s.data();
  size_t i = from;
  for (; i + 17 <= to; i += 16) {
    Bytes16 here, next;
    std::memcpy(&here, p + i, sizeof here);
    std::memcpy(&next, p + i + 1, sizeof next);
    auto untidy =
        (here == '\t') | ((here == ' ') & ((next == ' ') | (next == '\t') | (next == '\r')));
    uint64_t lanes[2];
    std::memcpy(lanes, &untidy, sizeof lanes);
    if ((lanes[0] | lanes[1]) != 0) break;  // the byte loop below finds which one
  }
  for (; i < to; ++i) {
    if (p[i] == '\t' || (p[i] == ' ' && (is_wsp(p[i + 1]) || p[i + 1] == '\r'))) return i;
  }
  return to;
}

// RFC 6376 3.4.4 a, b for one line (without its CRLF): runs of WSP become one SP, WSP at
// the end goes. What stays as it is is handed on as views into the line, so it joins.
template <typename Piece>
void relaxed_line(std::string_view line, Piece& piece) {
  size_t end = line.size();
  while (end > 0 && is_wsp(line[end - 1])) --end;
  size_t i = 0;
  while (i < end) {
    size_t untidy = find_untidy(line, i, end);
    piece(line.substr(i, untidy - i));
    if (untidy == end) break;
    size_t after = untidy;
    while (is_wsp(line[after])) ++after;  // stops before `end`: line[end - 1] is not WSP
    bool single_sp = after == untidy + 1 && line[untidy] == ' ';  // an SP before a bare CR
    piece(single_sp ? line.substr(untidy, 1) : " ");
    i = after;
  }
}

// RFC 6376 3.4.3 (simple) and 3.4.4 (relaxed) over a CRLF body, handing the canonical
// bytes to `emit` piece by piece, in order. Where the canonical form keeps the bytes as
// they are, pieces are views into `body`, joined while contiguous: a simple body is one
// piece, a relaxed one a piece per stretch between lines that need rewriting, so a caller
// that hashes them copies nothing.
template <typename Emit>
void canonicalize_body(std::string_view body, Canon c, Emit&& emit) {
  const char* run = nullptr;  // the pending piece
  size_t run_size = 0;
  auto piece = [&](std::string_view s) {
    if (run != nullptr && s.data() == run + run_size) {
      run_size += s.size();
      return;
    }
    if (run_size > 0) emit(std::string_view(run, run_size));
    run = s.data();
    run_size = s.size();
  };
  // Lines are what CRLF separates. The final line when not terminated by CRLF (it gets one
  // if kept), then, walking back, the blank lines at the end, which both algorithms drop:
  // [0, kept) is left, whole lines ending in a non-blank one (or nothing).
  size_t last_crlf = body.rfind(kCrlf);
  size_t kept = last_crlf == body.npos ? 0 : last_crlf + 2;
  std::string_view open_line = body.substr(kept);
  bool open_kept = !is_blank(open_line, c);
  while (!open_kept && kept > 0) {
    size_t start = line_start(body, 0, kept - 2);
    if (!is_blank(body.substr(start, kept - 2 - start), c)) break;
    kept = start;
  }
  if (c == Canon::kSimple) {
    piece(body.substr(0, kept));
    piece(open_line);
  } else {
    size_t pos = 0;  // always a line start
    while (pos < kept) {
      size_t untidy = find_untidy(body, pos, kept);
      if (untidy == kept) {
        piece(body.substr(pos, kept - pos));
        break;
      }
      // The lines before the untidy one as they are, that one rewritten.
      size_t start = line_start(body, pos, untidy);
      size_t line_end = body.find(kCrlf, untidy);
      piece(body.substr(pos, start - pos));
      relaxed_line(body.substr(start, line_end - start), piece);
      piece(body.substr(line_end, 2));  // its own CRLF: joins the lines that follow
      pos = line_end + 2;
    }
    if (open_kept) relaxed_line(open_line, piece);
  }
  if (open_kept) piece(kCrlf);
  // 3.4.3: the canonical form of an empty simple body is a single CRLF.
  if (c == Canon::kSimple && kept == 0 && !open_kept) piece(kCrlf);
  if (run_size > 0) emit(std::string_view(run, run_size));
}

const EVP_MD* digest_of(Algorithm a) {
  return a == Algorithm::kRsaSha1 ? EVP_sha1() : EVP_sha256();
}

}  // namespace

// RFC 6376 3.4.1 (simple) and 3.4.2 (relaxed).
std::string canon_header(std::string_view field, Canon c) {
  if (c == Canon::kSimple) return std::string(field);
  size_t colon = field.find(':');
  std::string out;
  out.reserve(field.size());
  std::string_view name = field.substr(0, colon);
  while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
  for (char ch : name) {
    out += static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
  }
  out += ':';
  if (colon == std::string_view::npos) return out + "\r\n";
  std::string_view value = field.substr(colon + 1);
  bool pending_space = false;
  bool started = false;
  for (char ch : value) {
    if (ch == '\r' || ch == '\n') continue;  // unfold
    if (is_wsp(ch)) {
      pending_space = started;  // WSP before the value is deleted
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    started = true;
    out += ch;
  }
  out += "\r\n";
  return out;
}

std::string canon_body(std::string_view body, Canon c) {
  std::string out;
  out.reserve(body.size() + 2);
  canonicalize_body(body, c, [&](std::string_view piece) { out += piece; });
  return out;
}

std::string body_hash(std::string_view body, Canon c, Algorithm a, std::optional<uint64_t> limit,
                      uint64_t* canonical_length) {
  // The canonical body is streamed into the digest, never built (l= cuts what is hashed,
  // not what is counted).
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), digest_of(a), nullptr);
  uint64_t total = 0;
  canonicalize_body(body, c, [&](std::string_view piece) {
    uint64_t room = limit ? (*limit > total ? *limit - total : 0) : piece.size();
    EVP_DigestUpdate(ctx.get(), piece.data(), std::min<uint64_t>(room, piece.size()));
    total += piece.size();
  });
  if (canonical_length != nullptr) *canonical_length = total;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

namespace {

// Indexes a CRLF message; the parsed message owns the bytes the views point into.
base::Result<SplitMessage> split_crlf(std::string crlf) {
  auto parsed =
      mail::Message::parse(std::move(crlf), mail::ParseOptions{.max_depth = 1, .max_parts = 1});
  if (!parsed) return parsed.error();
  auto owner = std::make_shared<const mail::Message>(std::move(*parsed));
  SplitMessage m;
  m.owner = owner;
  m.bytes = owner->raw();
  const mail::Part& root = owner->root();
  for (const auto& f : owner->headers(root)) {
    RawField rf;
    rf.name = m.bytes.substr(f.offset_field, f.name_length);
    rf.raw = m.bytes.substr(f.offset_field, f.offset_end - f.offset_field);
    m.fields.push_back(rf);
  }
  m.body = m.bytes.substr(root.offset_body);
  return m;
}

}  // namespace

base::Result<SplitMessage> split_message(std::string_view message) {
  return split_crlf(mail::lf_to_crlf(message));
}

base::Result<SplitMessage> split_message(std::string&& message) {
  if (mail::find_bare_lf(message) != std::string_view::npos) {
    return split_crlf(mail::lf_to_crlf(message));
  }
  return split_crlf(std::move(message));
}

std::string strip_b_value(std::string_view field) {
  size_t colon = field.find(':');
  if (colon == std::string_view::npos) return std::string(field);
  size_t pos = colon + 1;
  while (pos < field.size()) {
    size_t semi = field.find(';', pos);
    size_t end = semi == std::string_view::npos ? field.size() : semi;
    size_t eq = field.find('=', pos);
    if (eq != std::string_view::npos && eq < end) {
      std::string_view name = field.substr(pos, eq - pos);
      while (!name.empty() &&
             (is_wsp(name.front()) || name.front() == '\r' || name.front() == '\n'))
        name.remove_prefix(1);
      while (!name.empty() && (is_wsp(name.back()) || name.back() == '\r' || name.back() == '\n'))
        name.remove_suffix(1);
      if (name == "b") {
        size_t value_end = end;
        // Keep the field's final line break (not part of the value).
        if (semi == std::string_view::npos) {
          while (value_end > eq + 1 &&
                 (field[value_end - 1] == '\r' || field[value_end - 1] == '\n')) {
            --value_end;
          }
        }
        std::string out(field.substr(0, eq + 1));
        out += field.substr(value_end);
        return out;
      }
    }
    if (semi == std::string_view::npos) break;
    pos = semi + 1;
  }
  return std::string(field);
}

std::string header_hash_input(const SplitMessage& m, const std::vector<std::string>& h, Canon c,
                              std::string_view signature_field) {
  std::string out;
  // 5.4.2: each name takes the last not yet used instance, scanning upwards.
  std::vector<std::pair<std::string, size_t>> cursors;  // lower name → index bound
  for (const auto& name : h) {
    size_t* bound = nullptr;
    for (auto& cur : cursors) {
      if (mail::iequals(cur.first, name)) bound = &cur.second;
    }
    if (bound == nullptr) {
      cursors.emplace_back(name, m.fields.size());
      bound = &cursors.back().second;
    }
    while (*bound > 0) {
      --*bound;
      const RawField& f = m.fields[*bound];
      if (mail::iequals(f.name, name)) {
        out += canon_header(f.raw, c);
        break;
      }
    }
  }
  std::string sig = canon_header(strip_b_value(signature_field), c);
  // Without the trailing CRLF (3.7).
  while (!sig.empty() && (sig.back() == '\n' || sig.back() == '\r')) sig.pop_back();
  out += sig;
  return out;
}

}  // namespace postern::auth::dkim
