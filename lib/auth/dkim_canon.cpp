// DKIM canonicalization (RFC 6376 3.4), header selection (5.4.2) and body hashing (3.7).
#include <openssl/evp.h>

#include <memory>

#include "auth/dkim.h"
#include "auth/dkim_internal.h"
#include "mail/message.h"

namespace postern::auth::dkim {

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

}  // namespace

std::string to_crlf(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 32);
  // Copy runs between bare LFs in one append each; a CRLF message is a single copy.
  size_t start = 0;
  for (size_t nl = message.find('\n'); nl != std::string_view::npos;
       nl = message.find('\n', nl + 1)) {
    if (nl > 0 && message[nl - 1] == '\r') continue;
    out.append(message.data() + start, nl - start);
    out += "\r\n";
    start = nl + 1;
  }
  out.append(message.data() + start, message.size() - start);
  return out;
}

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

// RFC 6376 3.4.3 (simple) and 3.4.4 (relaxed). `body` has CRLF line ends.
std::string canon_body(std::string_view body, Canon c) {
  std::string out;
  out.reserve(body.size() + 2);
  if (c == Canon::kSimple) {
    out.assign(body);
    if (!out.empty() && (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0)) {
      out += "\r\n";
    }
  } else {
    size_t pos = 0;
    while (pos < body.size()) {
      size_t eol = body.find("\r\n", pos);
      size_t end = eol == std::string_view::npos ? body.size() : eol;
      // Runs of WSP become one SP (or nothing at the end of the line); the text between
      // them is appended a run at a time.
      size_t i = pos;
      while (i < end) {
        size_t run = i;
        while (run < end && !is_wsp(body[run])) ++run;
        out.append(body.data() + i, run - i);
        if (run == end) break;
        size_t after = run;
        while (after < end && is_wsp(body[after])) ++after;
        if (after < end) out += ' ';
        i = after;
      }
      out += "\r\n";  // trailing WSP dropped; a final unterminated line gets CRLF
      pos = eol == std::string_view::npos ? body.size() : eol + 2;
    }
  }
  // Both: empty lines at the end of the body are ignored.
  while (out.size() >= 4 && out.compare(out.size() - 4, 4, "\r\n\r\n") == 0) {
    out.resize(out.size() - 2);
  }
  if (out == "\r\n") out.clear();
  if (c == Canon::kSimple && out.empty()) out = "\r\n";  // 3.4.3: an empty body is CRLF
  return out;
}

namespace {

const EVP_MD* digest_of(Algorithm a) {
  return a == Algorithm::kRsaSha1 ? EVP_sha1() : EVP_sha256();
}

}  // namespace

std::string body_hash(std::string_view body, Canon c, Algorithm a, std::optional<uint64_t> limit,
                      uint64_t* canonical_length) {
  std::string canon = canon_body(body, c);
  if (canonical_length != nullptr) *canonical_length = canon.size();
  std::string_view hashed = canon;
  if (limit && *limit < hashed.size()) hashed = hashed.substr(0, *limit);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(hashed.data(), hashed.size(), md, &len, digest_of(a), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

base::Result<SplitMessage> split_message(std::string_view message) {
  SplitMessage m;
  auto parsed =
      mail::Message::parse(to_crlf(message), mail::ParseOptions{.max_depth = 1, .max_parts = 1});
  if (!parsed) return parsed.error();
  auto bytes = std::make_shared<std::string>(parsed->raw());
  m.bytes = bytes;
  std::string_view all = *bytes;
  const mail::Part& root = parsed->root();
  for (const auto& f : parsed->headers(root)) {
    RawField rf;
    rf.name = all.substr(f.offset_field, f.name_length);
    rf.raw = all.substr(f.offset_field, f.offset_end - f.offset_field);
    m.fields.push_back(rf);
  }
  m.body = all.substr(root.offset_body);
  return m;
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
      if (iequal(cur.first, name)) bound = &cur.second;
    }
    if (bound == nullptr) {
      cursors.emplace_back(name, m.fields.size());
      bound = &cursors.back().second;
    }
    while (*bound > 0) {
      --*bound;
      const RawField& f = m.fields[*bound];
      if (iequal(f.name, name)) {
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
