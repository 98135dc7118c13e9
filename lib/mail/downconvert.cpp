// 8BITMIME down-conversion (RFC 6152 3, RFC 1652 4; encodings RFC 2045 6.7/6.8).
#include "mail/downconvert.h"

#include <algorithm>
#include <set>
#include <vector>

#include "mail/header.h"
#include "mail/message.h"
#include "mail/transfer.h"
#include "mail/writer.h"

namespace postern::mail {
namespace {

using base::Error;

constexpr size_t kMaxLine = 998;  // RFC 5322 2.1.1, RFC 2045 2.7

// Not 7-bit data (RFC 2045 2.7): a byte over 127, a NUL, or an overlong line.
bool needs_encoding(std::string_view s) {
  size_t line = 0;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || u == 0) return true;
    if (c == '\n') {
      line = 0;
    } else if (c != '\r' && ++line > kMaxLine) {
      return true;
    }
  }
  return false;
}

bool has_8bit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

struct Edit {
  size_t begin, end;  // the bytes [begin, end) of the source are replaced
  std::string text;
};

// CRLF text from the encoders in the message's own line ends.
std::string with_eol(std::string s, bool lf) {
  if (!lf) return s;
  s.erase(std::remove(s.begin(), s.end(), '\r'), s.end());
  return s;
}

// Whether a quoted-printable line could be read as a delimiter of an enclosing multipart
// (RFC 2046 5.1.1): possible when a soft line break lands just before "--boundary" in
// text that held it mid-line. "=_" boundaries cannot clash; others are checked.
bool clashes(std::string_view encoded, const std::vector<std::string>& boundaries) {
  size_t pos = 0;
  while (pos < encoded.size()) {
    size_t nl = encoded.find('\n', pos);
    if (nl == std::string_view::npos) nl = encoded.size();
    const std::string_view line = encoded.substr(pos, nl - pos);
    for (const auto& b : boundaries) {
      if (line.size() >= b.size() + 2 && line.starts_with("--") && line.substr(2).starts_with(b)) {
        return true;
      }
    }
    pos = nl + 1;
  }
  return false;
}

std::string lower_trim(std::string_view raw) { return to_lower(unfold(raw)); }

class Converter {
 public:
  Converter(const Message& m, bool lf) : m_(m), lf_(lf) {}

  base::Status run() {
    const auto parts = m_.parts();
    std::vector<bool> inside_encoded(parts.size(), false);
    for (uint32_t i = 0; i < parts.size(); ++i) {
      const Part& p = parts[i];
      if (p.source != 0) continue;  // inside a base64/QP message part: 7-bit already
      if (p.parent >= 0 && inside_encoded[static_cast<size_t>(p.parent)]) {
        inside_encoded[i] = true;
        continue;
      }
      if (has_8bit(m_.raw_headers(p))) {
        return Error::bad_data("8-bit bytes in the header of part " + p.id +
                               ": cannot be converted to 7-bit (needs SMTPUTF8)");
      }
      const bool global = iequals(p.content_type.type, "message") && p.content_type.subtype &&
                          *p.content_type.subtype == "global";
      if (global) {
        // RFC 6532 3.7: message/global may be base64-encoded whole; its own (8-bit) header
        // fields are then inside the encoding.
        inside_encoded[i] = true;
        if (needs_encoding(m_.raw_body(p))) {
          if (auto s = encode_leaf(i, /*text=*/false); !s) return s;
        }
        continue;
      }
      if (!p.is_leaf() || !needs_encoding(m_.raw_body(p))) continue;
      if (auto s = encode_leaf(i, iequals(p.content_type.type, "text")); !s) return s;
    }
    for (uint32_t a : relabel_) relabel(a);
    return {};
  }

  std::string apply(std::string_view src) {
    std::sort(edits_.begin(), edits_.end(),
              [](const Edit& a, const Edit& b) { return a.begin < b.begin; });
    std::string out;
    out.reserve(src.size() + src.size() / 3 + 256);
    size_t at = 0;
    for (const Edit& e : edits_) {
      out.append(src.substr(at, e.begin - at));
      out += e.text;
      at = e.end;
    }
    out.append(src.substr(at));
    return out;
  }

  // Edits never overlap: each touches one part's header fields or its leaf body.
  bool consistent() const {
    std::vector<Edit> sorted = edits_;
    std::sort(sorted.begin(), sorted.end(),
              [](const Edit& a, const Edit& b) { return a.begin < b.begin; });
    for (size_t k = 1; k < sorted.size(); ++k)
      if (sorted[k].begin < sorted[k - 1].end) return false;
    return true;
  }

 private:
  std::string eol() const { return lf_ ? "\n" : "\r\n"; }

  base::Status encode_leaf(uint32_t index, bool text) {
    const Part& p = m_.part(index);
    const ContentType& ct = p.content_type;
    if (iequals(ct.type, "multipart") ||
        (iequals(ct.type, "message") && !(ct.subtype && *ct.subtype == "global"))) {
      // RFC 2045 6.4, RFC 2046 5.2.1: composite types take no encoding but 7bit/8bit/binary.
      return Error::bad_data("8-bit content in part " + p.id + " (" + ct.type + "/" +
                             ct.subtype.value_or("") + ") cannot be encoded");
    }
    const std::string_view raw = m_.raw_body(p);
    std::string data;
    if (p.encoding == Encoding::kIdentity) {
      data = std::string(raw);
    } else if (p.encoding == Encoding::kQuotedPrintable) {
      data = decode_quoted_printable(raw).data;  // stray 8-bit bytes: decode and re-encode
    } else {
      return Error::bad_data("8-bit bytes in the base64 body of part " + p.id);
    }
    std::string encoded;
    std::string_view cte = "base64";
    if (text) {
      encoded = encode_quoted_printable(data);
      cte = "quoted-printable";
      if (clashes(encoded, enclosing_boundaries(index))) {
        encoded.clear();
        cte = "base64";
      }
    }
    if (cte == "base64") encoded = encode_base64_lines(data);
    // The line break before the next delimiter belongs to the delimiter (RFC 2046 5.1.1):
    // a body that did not end in one must not gain one.
    if (!raw.ends_with('\n') && encoded.ends_with("\r\n")) encoded.resize(encoded.size() - 2);
    edits_.push_back({p.offset_body, p.offset_end, with_eol(std::move(encoded), lf_)});
    set_cte(p, cte);
    for (int32_t a = p.parent; a >= 0; a = m_.part(static_cast<uint32_t>(a)).parent) {
      relabel_.insert(static_cast<uint32_t>(a));
    }
    return {};
  }

  std::vector<std::string> enclosing_boundaries(uint32_t index) const {
    std::vector<std::string> out;
    for (int32_t a = m_.part(index).parent; a >= 0; a = m_.part(static_cast<uint32_t>(a)).parent) {
      const Part& q = m_.part(static_cast<uint32_t>(a));
      if (q.kind != PartKind::kMultipart) continue;
      if (const std::string* b = q.content_type.param("boundary")) out.push_back(*b);
    }
    return out;
  }

  // Sets the part's Content-Transfer-Encoding: the first such field gets the new value,
  // any others go, and a part without one gets one after its last field.
  void set_cte(const Part& p, std::string_view cte) {
    bool first = true;
    const auto fields = m_.headers(p);
    for (const HeaderField& f : fields) {
      if (!iequals(m_.field_name(p, f), "Content-Transfer-Encoding")) continue;
      if (first) {
        edits_.push_back({f.offset_value, f.offset_end, " " + std::string(cte) + eol()});
        first = false;
      } else {
        edits_.push_back({f.offset_field, f.offset_end, ""});
      }
    }
    if (!first) return;
    const std::string field = "Content-Transfer-Encoding: " + std::string(cte) + eol();
    if (!fields.empty()) {
      edits_.push_back({fields.back().offset_end, fields.back().offset_end, field});
    } else if (p.offset_body > p.offset_header) {
      edits_.push_back({p.offset_header, p.offset_header, field});  // before the blank line
    } else {
      edits_.push_back({p.offset_header, p.offset_header, field + eol()});  // no header block
    }
  }

  // An enclosing multipart or message/rfc822 labelled 8bit or binary now holds 7-bit data.
  void relabel(uint32_t index) {
    const Part& p = m_.part(index);
    if (p.source != 0) return;
    for (const HeaderField& f : m_.headers(p)) {
      if (!iequals(m_.field_name(p, f), "Content-Transfer-Encoding")) continue;
      const std::string v = lower_trim(m_.field_value(p, f));
      if (v == "8bit" || v == "binary") edits_.push_back({f.offset_value, f.offset_end, " 7bit" + eol()});
    }
  }

  const Message& m_;
  bool lf_;
  std::vector<Edit> edits_;
  std::set<uint32_t> relabel_;
};

}  // namespace

bool is_7bit(std::string_view message) { return !needs_encoding(message); }

base::Result<std::string> downconvert_8bit(std::string_view message) {
  if (is_7bit(message)) return std::string(message);
  auto parsed = Message::parse(std::string(message));
  if (!parsed) return parsed.error();
  const Message& m = *parsed;
  const size_t nl = message.find('\n');
  const bool lf = nl != std::string_view::npos && (nl == 0 || message[nl - 1] != '\r');
  Converter c(m, lf);
  if (auto s = c.run(); !s) return s.error();
  if (!c.consistent()) return Error::internal("down-conversion: overlapping edits");
  std::string out = c.apply(m.raw());
  if (!is_7bit(out)) {
    return Error::bad_data(has_8bit(out)
                               ? "8-bit bytes outside any body part cannot be converted to 7-bit"
                               : "a line over 998 octets outside any body part");
  }
  return out;
}

}  // namespace postern::mail
