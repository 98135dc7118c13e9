// The MIME structure parser (RFC 2045, RFC 2046, RFC 5322) and the RFC 8621 4.1.4 body
// part selection. See message.h.

#include "mail/message.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "mail/charset.h"
#include "mail/html.h"

namespace postern::mail {
namespace {

constexpr size_t kNpos = std::string_view::npos;


bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// RFC 2045 6.8: only the alphabet, '=' and white space may appear in base64 content.
bool is_ascii_charset(std::string_view cs) {
  return iequals(cs, "us-ascii") || iequals(cs, "ascii") || iequals(cs, "ansi_x3.4-1968") ||
         iequals(cs, "iso646-us") || iequals(cs, "us");
}

}  // namespace

// Builds a Message: one recursive descent over the bytes, recording offsets only.
class MessageBuilder {
 public:
  MessageBuilder(Message& m, const ParseOptions& o) : m_(m), opt_(o) {}

  // Where an entity ended: `found` when the delimiter of the innermost enclosing
  // multipart was seen; `next` is then just past "--boundary".
  struct End {
    size_t next = 0;
    bool found = false;
  };

  struct Block {
    size_t body = 0;         // first body byte
    bool blank_line = false;  // the block ended with an empty line
    uint32_t fields = 0;
  };

  // RFC 5322 2.2, 2.2.3: fields until an empty line. A line without a colon is skipped
  // (best effort); a delimiter line of the enclosing multipart ends the block early.
  Block header_block(std::string_view src, size_t pos, size_t limit, std::string_view boundary,
                     size_t* first_header) {
    Block b;
    *first_header = m_.headers_.size();
    size_t i = pos;
    bool have_field = false;
    while (i < limit) {
      size_t nl = src.find('\n', i);
      size_t le = (nl == kNpos || nl >= limit) ? limit : nl;
      size_t next = le < limit ? le + 1 : limit;
      size_t content_end = le;
      if (content_end > i && src[content_end - 1] == '\r') --content_end;
      if (content_end == i) {  // empty line: the body follows
        b.body = next;
        b.blank_line = true;
        return b;
      }
      // A delimiter line inside a header block is not a field (no colon follows the
      // name) and is skipped like any other malformed line: the block ends only at an
      // empty line, as in mail-parser and most clients.
      if (is_wsp(src[i])) {
        // RFC 5322 2.2.3: a folded continuation of the previous field.
        if (have_field) m_.headers_.back().offset_end = static_cast<uint32_t>(next);
      } else {
        size_t colon = src.find(':', i);
        if (colon != kNpos && colon < content_end) {
          size_t name_end = colon;
          while (name_end > i && is_wsp(src[name_end - 1])) --name_end;
          if (name_end > i) {
            HeaderField f;
            f.offset_field = static_cast<uint32_t>(i);
            f.name_length = static_cast<uint32_t>(name_end - i);
            f.offset_value = static_cast<uint32_t>(colon + 1);
            f.offset_end = static_cast<uint32_t>(next);
            m_.headers_.push_back(f);
            ++b.fields;
            have_field = true;
          } else {
            have_field = false;
          }
        } else {
          have_field = false;  // not a field: skipped, and it ends any folding
        }
      }
      i = next;
    }
    b.body = limit;
    return b;
  }

  // True when a delimiter line "--boundary" (RFC 2046 5.1.1) starts at `at`. The rest of
  // the line is not checked: the boundary must not appear in the content as a prefix.
  static bool is_delimiter_at(std::string_view src, size_t at, size_t limit,
                              std::string_view boundary) {
    if (at + 2 + boundary.size() > limit) return false;
    return src[at] == '-' && src[at + 1] == '-' &&
           src.compare(at + 2, boundary.size(), boundary) == 0;
  }

  // The next delimiter line at or after `from` (which counts as a line start).
  static size_t find_delimiter(std::string_view src, size_t from, size_t limit,
                               std::string_view boundary) {
    if (boundary.empty() || from >= limit) return kNpos;
    if (is_delimiter_at(src, from, limit, boundary)) return from;
    size_t i = from + 2;
    while (i < limit) {
      size_t hit = src.find(boundary, i);
      if (hit == kNpos || hit + boundary.size() > limit) return kNpos;
      size_t cand = hit - 2;  // hit >= from + 2 >= 2
      if (src[cand] == '-' && src[cand + 1] == '-' && cand > from) {
        if (src[cand - 1] == '\n') return cand;
        // Leniency: a close-delimiter glued to an unterminated last line ("text--b--"),
        // as some mailers write it, still closes the multipart.
        size_t after = hit + boundary.size();
        if (after + 2 <= limit && src[after] == '-' && src[after + 1] == '-') return cand;
      }
      i = hit + 1;
    }
    return kNpos;
  }

  // RFC 2046 5.1.1: the line break before a delimiter belongs to the delimiter.
  static size_t content_end(std::string_view src, size_t start, size_t delim) {
    if (delim <= start) return start;
    size_t e = delim;
    if (src[e - 1] == '\n') {  // otherwise a glued close-delimiter: content ends before it
      --e;
      if (e > start && src[e - 1] == '\r') --e;
    }
    return e;
  }

  End entity(uint32_t source, size_t pos, size_t limit, std::string_view boundary,
             int32_t parent, uint32_t message, int depth, bool in_digest, uint32_t* out_index) {
    std::string_view src = m_.sources_[source];
    uint32_t idx = static_cast<uint32_t>(m_.parts_.size());
    *out_index = idx;
    m_.parts_.emplace_back();
    size_t first_header = 0;
    Block block = header_block(src, pos, limit, boundary, &first_header);
    {
      Part& p = m_.parts_[idx];
      p.source = source;
      p.parent = parent;
      p.message = message;
      p.depth = static_cast<uint16_t>(std::min(depth, 65535));
      p.offset_header = static_cast<uint32_t>(pos);
      p.offset_body = static_cast<uint32_t>(block.body);
      p.first_header = static_cast<uint32_t>(first_header);
      p.header_count = block.fields;
      classify(p);
    }
    Part& p = m_.parts_[idx];
    if (p.content_type_defaulted && in_digest) {
      // RFC 2046 5.1.5: in a digest the default type is message/rfc822.
      p.content_type = parse_content_type("message/rfc822");
    }
    const ContentType& ct = p.content_type;
    bool limited = depth >= opt_.max_depth ||
                   m_.parts_.size() >= static_cast<size_t>(opt_.max_parts);

    // ---- multipart (RFC 2046 5.1) ----
    if (iequals(ct.type, "multipart")) {
      const std::string* bparam = ct.param("boundary");
      std::string boundary_own = bparam ? *bparam : std::string();
      if (!boundary_own.empty() && limited) {
        m_.parts_[idx].depth_limited = true;
      } else if (!boundary_own.empty()) {
        size_t first = find_delimiter(src, block.body, limit, boundary_own);
        if (first != kNpos) return multipart(idx, source, first, limit, boundary_own, boundary,
                                             message, depth, ct.subtype && *ct.subtype == "digest");
      }
      // No boundary, or it never appears: the body is kept as one opaque text part.
    }

    // ---- leaf: its extent is up to the enclosing multipart's next delimiter ----
    End end;
    size_t body_end = limit;
    if (!boundary.empty()) {
      size_t d = find_delimiter(src, block.body, limit, boundary);
      if (d != kNpos) {
        body_end = content_end(src, block.body, d);
        end.found = true;
        end.next = d + 2 + boundary.size();
      } else {
        m_.parts_[idx].missing_delimiter = true;
        end.next = limit;
      }
    } else {
      end.next = limit;
    }
    {
      Part& leaf = m_.parts_[idx];
      leaf.offset_end = static_cast<uint32_t>(std::max(body_end, block.body));
      if (leaf.encoding == Encoding::kBase64 &&
          !base64_is_clean(src.substr(leaf.offset_body, leaf.offset_end - leaf.offset_body))) {
        leaf.bad_encoding = true;
      }
    }

    // ---- encapsulated message (RFC 2046 5.2.1, RFC 6532 3.7) ----
    Part& leaf = m_.parts_[idx];
    bool is_message = iequals(leaf.content_type.type, "message") && leaf.content_type.subtype &&
                      (*leaf.content_type.subtype == "rfc822" ||
                       *leaf.content_type.subtype == "global");
    if (is_message && !limited) {
      nested_message(idx, source, depth);
    } else if (is_message) {
      m_.parts_[idx].depth_limited = true;
    }
    return end;
  }

  End multipart(uint32_t idx, uint32_t source, size_t first, size_t limit,
                const std::string& own, std::string_view enclosing, uint32_t message, int depth,
                bool digest) {
    std::string_view src = m_.sources_[source];
    m_.parts_[idx].kind = PartKind::kMultipart;
    size_t cur = first + 2 + own.size();
    bool closed = false;
    bool ran_out = false;
    for (;;) {
      if (cur + 2 <= limit && src[cur] == '-' && src[cur + 1] == '-') {
        closed = true;  // close-delimiter: the epilogue follows
        cur += 2;
        break;
      }
      // Transport padding up to the line break; anything else starts the headers.
      size_t start = cur;
      while (start < limit && (is_wsp(src[start]) || src[start] == '\r')) ++start;
      if (start < limit && src[start] == '\n') {
        ++start;
      } else if (start < limit) {
        start = cur;  // junk after the boundary: the header block starts right there
      }
      if (start >= limit) {
        ran_out = true;
        break;
      }
      if (m_.parts_.size() >= static_cast<size_t>(opt_.max_parts)) {
        ran_out = true;
        break;
      }
      // A part that is nothing but an unterminated header-less tail is not a part.
      size_t headers_before = m_.headers_.size();
      uint32_t child = 0;
      End e = entity(source, start, limit, own, static_cast<int32_t>(idx), message, depth + 1,
                     digest, &child);
      if (!e.found && m_.parts_[child].is_leaf() && child + 1 == m_.parts_.size() &&
          m_.parts_[child].offset_body >= limit && !has_blank_line(src, start, limit)) {
        m_.parts_.pop_back();
        m_.headers_.resize(headers_before);
        ran_out = true;
        break;
      }
      m_.parts_[idx].children.push_back(child);
      if (!e.found) {
        ran_out = true;
        break;
      }
      cur = e.next;
    }
    End end;
    Part& p = m_.parts_[idx];
    if (ran_out) {
      p.offset_end = static_cast<uint32_t>(limit);
      end.next = limit;
      end.found = false;
      return end;
    }
    (void)closed;
    // The epilogue runs to the enclosing multipart's next delimiter.
    size_t d = find_delimiter(src, next_line(src, cur, limit), limit, enclosing);
    if (d != kNpos) {
      p.offset_end = static_cast<uint32_t>(content_end(src, cur, d));
      end.found = true;
      end.next = d + 2 + enclosing.size();
    } else {
      p.offset_end = static_cast<uint32_t>(limit);
      end.next = limit;
    }
    return end;
  }

  static size_t next_line(std::string_view src, size_t pos, size_t limit) {
    size_t nl = src.find('\n', pos);
    if (nl == kNpos || nl >= limit) return limit;
    return nl + 1;
  }

  // Whether an empty line comes before `limit`.
  static bool has_blank_line(std::string_view src, size_t pos, size_t limit) {
    size_t i = pos;
    while (i < limit) {
      size_t nl = src.find('\n', i);
      if (nl == kNpos || nl >= limit) return false;
      size_t ce = nl;
      if (ce > i && src[ce - 1] == '\r') --ce;
      if (ce == i) return true;
      i = nl + 1;
    }
    return false;
  }

  void nested_message(uint32_t idx, uint32_t source, int depth) {
    Part& p = m_.parts_[idx];
    uint32_t nsrc = source;
    size_t begin = p.offset_body, end = p.offset_end;
    if (p.encoding != Encoding::kIdentity) {
      if (encoded_depth_ >= opt_.max_encoded_nesting || p.bad_encoding) return;
      std::string_view body = std::string_view(m_.sources_[source]).substr(begin, end - begin);
      Decoded d = p.encoding == Encoding::kBase64 ? decode_base64(body)
                                                   : decode_quoted_printable(body);
      if (d.data.size() > std::numeric_limits<uint32_t>::max()) return;
      m_.sources_.push_back(std::move(d.data));
      nsrc = static_cast<uint32_t>(m_.sources_.size() - 1);
      begin = 0;
      end = m_.sources_[nsrc].size();
    }
    std::string_view src = m_.sources_[nsrc];
    if (!looks_like_message(src, begin, end)) {
      if (nsrc != source) m_.sources_.pop_back();
      m_.parts_[idx].bad_encoding = true;  // shown as the text it is
      return;
    }
    uint32_t node = static_cast<uint32_t>(m_.messages_.size());
    m_.messages_.push_back(MessageNode{.container = static_cast<int32_t>(idx)});
    m_.parts_[idx].kind = PartKind::kMessage;
    m_.parts_[idx].nested = node;
    if (nsrc != source) ++encoded_depth_;
    uint32_t root = 0;
    entity(nsrc, begin, end, {}, static_cast<int32_t>(idx), node, depth + 1, false, &root);
    if (nsrc != source) --encoded_depth_;
    m_.messages_[node].root = root;
    m_.parts_[idx].children.push_back(root);
  }

  // An encapsulated message needs at least one header field or an empty line.
  static bool looks_like_message(std::string_view src, size_t begin, size_t end) {
    size_t i = begin;
    while (i < end) {
      size_t nl = src.find('\n', i);
      size_t le = (nl == kNpos || nl >= end) ? end : nl;
      size_t ce = le;
      if (ce > i && src[ce - 1] == '\r') --ce;
      if (ce == i) return le < end;
      if (!is_wsp(src[i])) {
        size_t colon = src.find(':', i);
        if (colon != kNpos && colon < ce && colon > i) return true;
      }
      i = le + 1;
    }
    return false;
  }

  void classify(Part& p) {
    std::string_view src = m_.sources_[p.source];
    const HeaderField* ct = nullptr;
    const HeaderField* cd = nullptr;
    const HeaderField* cte = nullptr;
    for (uint32_t i = 0; i < p.header_count; ++i) {
      const HeaderField& f = m_.headers_[p.first_header + i];
      std::string_view name = src.substr(f.offset_field, f.name_length);
      // Later fields win, as most clients resolve duplicates.
      if (iequals(name, "content-type")) ct = &f;
      else if (iequals(name, "content-disposition")) cd = &f;
      else if (iequals(name, "content-transfer-encoding")) cte = &f;
    }
    auto value = [&](const HeaderField* f) {
      return src.substr(f->offset_value, f->offset_end - f->offset_value);
    };
    if (ct) p.content_type = parse_content_type(value(ct));
    if (!ct || p.content_type.type.empty() || !p.content_type.subtype ||
        p.content_type.subtype->empty()) {
      // RFC 2045 5.2: missing or unusable → text/plain; charset=us-ascii.
      bool keep_text_params = ct && iequals(p.content_type.type, "text");
      auto params = std::move(p.content_type.params);
      p.content_type = parse_content_type("text/plain");
      if (keep_text_params) p.content_type.params = std::move(params);
      p.content_type_defaulted = !ct || !keep_text_params;
    }
    if (cd) p.disposition = parse_content_type(value(cd));
    if (cte) p.encoding = parse_transfer_encoding(value(cte));
    if (iequals(p.content_type.type, "text")) {
      p.kind = p.content_type.subtype && *p.content_type.subtype == "html" ? PartKind::kHtml
                                                                          : PartKind::kText;
    } else if (iequals(p.content_type.type, "multipart")) {
      p.kind = PartKind::kText;  // until its boundary is found
    } else {
      p.kind = PartKind::kBinary;
    }
  }

  // ---- RFC 8621 4.1.4 ----

  bool is_attachment_disposition(const Part& p) const {
    return p.disposition && iequals(p.disposition->type, "attachment");
  }

  static bool is_inline_media(const Part& p) {
    const std::string& t = p.content_type.type;
    return p.is_leaf() && (iequals(t, "image") || iequals(t, "audio") || iequals(t, "video"));
  }

  // Parts that could be a body: text/plain, text/html and inline media, when their
  // content arrived whole.
  bool body_type(const Part& p) const {
    if (!p.is_leaf() || p.missing_delimiter || p.bad_encoding) return false;
    if (is_inline_media(p)) return true;
    if (!iequals(p.content_type.type, "text") || !p.content_type.subtype) return false;
    return *p.content_type.subtype == "plain" || *p.content_type.subtype == "html";
  }

  static bool is_type(const Part& p, std::string_view sub) {
    return iequals(p.content_type.type, "text") && p.content_type.subtype &&
           *p.content_type.subtype == sub && p.is_leaf() && !p.missing_delimiter &&
           !p.bad_encoding;
  }

  void parse_structure(const std::vector<uint32_t>& parts, std::string_view multipart_type,
                       bool in_alternative, std::vector<uint32_t>* text_body,
                       std::vector<uint32_t>* html_body, std::vector<uint32_t>& attachments) {
    size_t text_length = text_body ? text_body->size() : 0;
    size_t html_length = html_body ? html_body->size() : 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      uint32_t idx = parts[i];
      const Part& part = m_.parts_[idx];
      if (part.kind == PartKind::kMultipart) {
        std::string sub = part.content_type.subtype.value_or("mixed");
        parse_structure(part.children, sub, in_alternative || sub == "alternative", text_body,
                        html_body, attachments);
        continue;
      }
      bool is_inline =
          !is_attachment_disposition(part) && body_type(part) &&
          (i == 0 || (multipart_type != "related" &&
                      (is_inline_media(part) || filename_of(part).empty())));
      if (!is_inline) {
        attachments.push_back(idx);
        continue;
      }
      if (multipart_type == "alternative") {
        if (is_type(part, "plain") && text_body) {
          text_body->push_back(idx);
        } else if (is_type(part, "html") && html_body) {
          html_body->push_back(idx);
        } else {
          attachments.push_back(idx);
        }
        continue;
      }
      if (in_alternative) {
        if (is_type(part, "plain")) html_body = nullptr;
        if (is_type(part, "html")) text_body = nullptr;
      }
      if (text_body) text_body->push_back(idx);
      if (html_body) html_body->push_back(idx);
      // Inline media are also offered as attachments, so a reader can save them (RFC 8621
      // adds them only when one body list is missing; Postern always does, like Stalwart).
      if (is_inline_media(part)) attachments.push_back(idx);
    }
    if (multipart_type == "alternative" && text_body && html_body) {
      if (text_length == text_body->size() && html_length != html_body->size()) {
        for (size_t i = html_length; i < html_body->size(); ++i) {
          text_body->push_back((*html_body)[i]);
        }
      }
      if (html_length == html_body->size() && text_length != text_body->size()) {
        for (size_t i = text_length; i < text_body->size(); ++i) {
          html_body->push_back((*text_body)[i]);
        }
      }
    }
  }

  std::string filename_of(const Part& p) const {
    if (p.disposition) {
      if (const std::string* f = p.disposition->param("filename"); f && !f->empty()) return *f;
    }
    if (const std::string* n = p.content_type.param("name"); n && !n->empty()) return *n;
    return {};
  }

  void select_bodies() {
    for (MessageNode& node : m_.messages_) {
      std::vector<uint32_t> roots{node.root};
      parse_structure(roots, "mixed", false, &node.text_body, &node.html_body,
                      node.attachments);
    }
  }

  // IMAP section numbers (RFC 3501 6.4.5).
  void number(uint32_t idx, const std::string& id) {
    Part& p = m_.parts_[idx];
    p.id = id;
    std::string prefix = id.size() >= 2 && id.compare(id.size() - 2, 2, ".0") == 0
                             ? id.substr(0, id.size() - 2)
                         : id == "0" ? std::string()
                                     : id;
    if (p.kind == PartKind::kMultipart) {
      std::vector<uint32_t> children = p.children;
      for (size_t i = 0; i < children.size(); ++i) {
        std::string n = std::to_string(i + 1);
        number(children[i], prefix.empty() ? n : prefix + "." + n);
      }
    } else if (p.kind == PartKind::kMessage && !p.children.empty()) {
      uint32_t root = p.children.front();
      bool multi = m_.parts_[root].kind == PartKind::kMultipart;
      number(root, id + (multi ? ".0" : ".1"));
    }
  }

  void finish() {
    uint32_t root = m_.messages_.front().root;
    number(root, m_.parts_[root].kind == PartKind::kMultipart ? "0" : "1");
    select_bodies();
  }

 private:
  Message& m_;
  const ParseOptions& opt_;
  int encoded_depth_ = 0;
};

namespace {

// The first line of a message must be a header field (or an mbox "From " line).
bool starts_with_field(std::string_view s) {
  if (s.size() >= 5 && s.compare(0, 5, "From ") == 0) {
    size_t nl = s.find('\n');
    if (nl == kNpos) return false;
    s.remove_prefix(nl + 1);
  }
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == ':') break;
    if (c < 33 || c > 126) {
      // Only white space may sit between the name and the colon (RFC 5322 4.5.5 obs).
      size_t j = i;
      while (j < s.size() && is_wsp(s[j])) ++j;
      if (j < s.size() && s[j] == ':' && i > 0) return true;
      return false;
    }
    ++i;
  }
  return i > 0 && i < s.size();
}

}  // namespace

base::Result<Message> Message::parse(std::string raw, const ParseOptions& options) {
  if (raw.empty()) return base::Error::bad_data("not a message (empty input)");
  if (raw.size() > std::numeric_limits<uint32_t>::max() - 1) {
    return base::Error::bad_data("message too large (4 GiB or more)");
  }
  if (!starts_with_field(raw)) {
    return base::Error::bad_data("not a message (no header fields)");
  }
  Message m;
  m.sources_.push_back(std::move(raw));
  m.messages_.push_back(MessageNode{});
  MessageBuilder b(m, options);
  size_t start = 0;
  std::string_view s = m.sources_.front();
  if (s.compare(0, 5, "From ") == 0) start = s.find('\n') + 1;  // mbox separator line
  uint32_t root = 0;
  b.entity(0, start, s.size(), {}, -1, 0, 0, false, &root);
  m.messages_.front().root = root;
  m.parts_[root].offset_end = static_cast<uint32_t>(s.size());
  b.finish();
  return m;
}

const Part* Message::find(std::string_view id) const {
  for (const Part& p : parts_) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

std::string_view Message::raw_headers(const Part& p) const {
  return source(p).substr(p.offset_header, p.offset_body - p.offset_header);
}

std::string_view Message::raw_body(const Part& p) const {
  return source(p).substr(p.offset_body, p.offset_end - p.offset_body);
}

std::string_view Message::raw_part(const Part& p) const {
  return source(p).substr(p.offset_header, p.offset_end - p.offset_header);
}

std::span<const HeaderField> Message::headers(const Part& p) const {
  return std::span<const HeaderField>(headers_).subspan(p.first_header, p.header_count);
}

std::string_view Message::field_name(const Part& p, const HeaderField& f) const {
  return source(p).substr(f.offset_field, f.name_length);
}

std::string_view Message::field_value(const Part& p, const HeaderField& f) const {
  return source(p).substr(f.offset_value, f.offset_end - f.offset_value);
}

std::optional<std::string_view> Message::header(const Part& p, std::string_view name,
                                                bool last) const {
  std::optional<std::string_view> found;
  for (const HeaderField& f : headers(p)) {
    if (iequals(field_name(p, f), name)) {
      found = field_value(p, f);
      if (!last) return found;
    }
  }
  return found;
}

std::string Message::decoded_body(const Part& p) const {
  if (p.kind == PartKind::kMessage && p.encoding != Encoding::kIdentity && !p.children.empty()) {
    const Part& root = parts_[p.children.front()];
    return std::string(sources_.at(root.source));
  }
  std::string_view body = raw_body(p);
  if (p.bad_encoding) return std::string(body);
  switch (p.encoding) {
    case Encoding::kBase64: return decode_base64(body).data;
    case Encoding::kQuotedPrintable: return decode_quoted_printable(body).data;
    case Encoding::kIdentity: break;
  }
  return std::string(body);
}

size_t Message::decoded_size(const Part& p) const {
  if (p.kind == PartKind::kMessage && p.encoding != Encoding::kIdentity && !p.children.empty()) {
    return sources_.at(parts_[p.children.front()].source).size();
  }
  std::string_view body = raw_body(p);
  if (p.bad_encoding || p.encoding == Encoding::kIdentity) return body.size();
  if (p.encoding == Encoding::kBase64) return base64_decoded_size(body);
  return decode_quoted_printable(body).data.size();
}

std::string Message::text(const Part& p) const {
  std::string bytes = decoded_body(p);
  const std::string* cs = p.content_type.param("charset");
  if (cs && !cs->empty() && !is_ascii_charset(*cs)) {
    if (auto s = to_utf8(bytes, *cs)) return std::move(*s);
  }
  // Undeclared (or "us-ascii" with 8-bit bytes): UTF-8 if it is, else Windows-1252.
  return utf8_or_latin1(bytes);
}

std::string Message::filename(const Part& p) const {
  if (p.disposition) {
    if (const std::string* f = p.disposition->param("filename"); f && !f->empty()) return *f;
  }
  if (const std::string* n = p.content_type.param("name"); n && !n->empty()) return *n;
  return {};
}

std::string Message::extract_text() const {
  const MessageNode& top = messages_.front();
  bool has_plain = false;
  for (uint32_t i : top.text_body) {
    if (parts_[i].kind == PartKind::kText) has_plain = true;
  }
  const std::vector<uint32_t>& list = has_plain ? top.text_body : top.html_body;
  std::string out;
  for (uint32_t i : list) {
    const Part& p = parts_[i];
    std::string piece;
    if (p.kind == PartKind::kHtml) {
      piece = html_to_text(text(p));
    } else if (p.kind == PartKind::kText) {
      piece = text(p);
    } else {
      continue;  // inline images have no text
    }
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += piece;
  }
  return out;
}

}  // namespace postern::mail
