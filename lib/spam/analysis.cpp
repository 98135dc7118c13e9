// analyze(): one pass over a parsed message collecting what the spam checks need.
#include "spam/analysis.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "auth/arc.h"
#include "mail/charset.h"
#include "mail/header.h"
#include "mail/html.h"
#include "mail/message.h"

namespace postern::spam {
namespace {

using mail::Message;
using mail::Part;
using mail::PartKind;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool istarts(std::string_view s, size_t at, std::string_view p) {
  if (s.size() - at < p.size() || at > s.size()) return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (lower(s[at + i]) != p[i]) return false;
  }
  return true;
}

bool url_char_end(unsigned char c) {
  return c <= ' ' || c == '<' || c == '>' || c == '"' || c == '\'' || c == '`' || c == '{' ||
         c == '}' || c == '|' || c == '\\' || c == '^' || c == 0x7f;
}

// ---- HTML: a tag scanner for the features rendering drops ----

struct Attr {
  std::string name, value;
};

struct Tag {
  std::string name;  // lower-case, without '/'
  bool closing = false;
  bool self_closing = false;
  std::vector<Attr> attrs;
  const std::string* attr(std::string_view n) const {
    for (const Attr& a : attrs) {
      if (a.name == n) return &a.value;
    }
    return nullptr;
  }
};

// Parses the tag starting at html[i] == '<'; returns the index after '>' (or npos).
size_t parse_tag(std::string_view html, size_t i, Tag& tag) {
  size_t n = html.size();
  size_t p = i + 1;
  tag = Tag{};
  if (p < n && html[p] == '/') {
    tag.closing = true;
    ++p;
  }
  size_t start = p;
  while (p < n && (std::isalnum(static_cast<unsigned char>(html[p])) || html[p] == '-' ||
                   html[p] == ':')) {
    ++p;
  }
  if (p == start) return std::string_view::npos;  // not a tag ("a < b")
  for (size_t k = start; k < p; ++k) tag.name += lower(html[k]);
  while (p < n) {
    while (p < n && (std::isspace(static_cast<unsigned char>(html[p])) || html[p] == '/')) {
      if (html[p] == '/') tag.self_closing = true;
      ++p;
    }
    if (p >= n) break;
    if (html[p] == '>') return p + 1;
    tag.self_closing = false;
    Attr a;
    while (p < n && html[p] != '=' && html[p] != '>' && html[p] != '/' &&
           !std::isspace(static_cast<unsigned char>(html[p]))) {
      a.name += lower(html[p++]);
    }
    while (p < n && std::isspace(static_cast<unsigned char>(html[p]))) ++p;
    if (p < n && html[p] == '=') {
      ++p;
      while (p < n && std::isspace(static_cast<unsigned char>(html[p]))) ++p;
      if (p < n && (html[p] == '"' || html[p] == '\'')) {
        char q = html[p++];
        size_t e = html.find(q, p);
        if (e == std::string_view::npos) e = n;
        a.value.assign(html.substr(p, e - p));
        p = e < n ? e + 1 : n;
      } else {
        while (p < n && html[p] != '>' && !std::isspace(static_cast<unsigned char>(html[p]))) {
          a.value += html[p++];
        }
      }
    }
    if (!a.name.empty()) tag.attrs.push_back(std::move(a));
    if (a.name.empty() && p < n && html[p] != '>' && html[p] != '/') ++p;  // stray byte
  }
  return std::string_view::npos;
}

bool is_void(std::string_view t) {
  static const char* kVoid[] = {"area", "base", "br", "col", "embed", "hr", "img", "input",
                                "link", "meta", "param", "source", "track", "wbr"};
  for (const char* v : kVoid) {
    if (t == v) return true;
  }
  return false;
}

std::string squeeze_lower(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (!std::isspace(static_cast<unsigned char>(c))) out += lower(c);
  }
  return out;
}

std::string css_value(const std::string& style, std::string_view prop) {
  // `style` is squeezed and lower-cased: "color:#fff;background-color:#fff"
  size_t at = 0;
  while ((at = style.find(prop, at)) != std::string::npos) {
    bool boundary = at == 0 || style[at - 1] == ';' || style[at - 1] == '"';
    size_t v = at + prop.size();
    if (boundary && v < style.size() && style[v] == ':') {
      size_t e = style.find(';', v + 1);
      std::string val = style.substr(v + 1, e == std::string::npos ? std::string::npos : e - v - 1);
      if (size_t imp = val.find("!important"); imp != std::string::npos) val.resize(imp);
      return val;
    }
    at = v;
  }
  return "";
}

std::string normal_colour(std::string c) {
  if (c == "white" || c == "#fff" || c == "#ffffff" || c == "rgb(255,255,255)") return "#ffffff";
  if (c == "black" || c == "#000" || c == "#000000" || c == "rgb(0,0,0)") return "#000000";
  return c;
}

bool zero_size(const std::string& v) {
  if (v.empty()) return false;
  double d = std::atof(v.c_str());
  if (v[0] != '0' && v[0] != '.' && !std::isdigit(static_cast<unsigned char>(v[0]))) return false;
  return d < 1.5 && v.find('%') == std::string::npos && v.find("em") == std::string::npos
             ? d <= 1.0
             : d == 0;
}

// Whether an element's own attributes hide what it contains.
bool hides(const Tag& t, const std::string& inherited_bg) {
  if (t.attr("hidden")) return true;
  if (t.name == "font") {
    if (const std::string* s = t.attr("size"); s && (*s == "0" || *s == "-5")) return true;
    if (const std::string* c = t.attr("color");
        c && !inherited_bg.empty() && normal_colour(squeeze_lower(*c)) == inherited_bg) {
      return true;
    }
  }
  const std::string* st = t.attr("style");
  if (!st) return false;
  std::string s = squeeze_lower(*st);
  if (css_value(s, "display") == "none") return true;
  if (css_value(s, "visibility") == "hidden") return true;
  if (css_value(s, "opacity") == "0") return true;
  if (zero_size(css_value(s, "font-size"))) return true;
  std::string h = css_value(s, "max-height"), hh = css_value(s, "height");
  if ((zero_size(h) || zero_size(hh)) && css_value(s, "overflow") == "hidden") return true;
  std::string fg = normal_colour(css_value(s, "color"));
  std::string bg = normal_colour(css_value(s, "background-color"));
  if (bg.empty()) bg = normal_colour(css_value(s, "background"));
  if (bg.empty()) bg = inherited_bg;
  return !fg.empty() && fg == bg;
}

std::string own_background(const Tag& t) {
  if (const std::string* b = t.attr("bgcolor")) return normal_colour(squeeze_lower(*b));
  if (const std::string* st = t.attr("style")) {
    std::string s = squeeze_lower(*st);
    std::string bg = normal_colour(css_value(s, "background-color"));
    if (bg.empty()) bg = normal_colour(css_value(s, "background"));
    return bg;
  }
  return "";
}

size_t visible_chars(std::string_view text) {
  size_t n = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c > ' ' && (c & 0xC0) != 0x80) ++n;  // count code points, not bytes; no spaces
  }
  return n;
}

void scan_html(std::string_view html, HtmlFeatures& f, std::vector<Url>& urls, size_t max_urls) {
  struct Open {
    std::string name;
    bool hidden;
    std::string bg;
  };
  std::vector<Open> stack;
  bool hidden = false;
  std::string bg;  // the background in effect (normalised), "" when unknown
  size_t anchor_start = std::string_view::npos;
  size_t anchor_url = 0;
  size_t i = 0, n = html.size();
  auto recompute = [&] {
    hidden = false;
    bg.clear();
    for (const Open& o : stack) {
      hidden = hidden || o.hidden;
      if (!o.bg.empty()) bg = o.bg;
    }
  };
  auto add_url = [&](const std::string& raw, bool form, bool image) -> bool {
    std::string u = mail::html_to_text(raw);  // entities
    while (!u.empty() && std::isspace(static_cast<unsigned char>(u.back()))) u.pop_back();
    size_t s = 0;
    while (s < u.size() && std::isspace(static_cast<unsigned char>(u[s]))) ++s;
    u.erase(0, s);
    std::string host = url_host(u);
    if (host.empty() || urls.size() >= max_urls) return false;
    Url url;
    url.url = u;
    url.host = host;
    url.scheme = mail::to_lower(u.substr(0, u.find(':')));
    url.in_html = true;
    url.form_action = form;
    url.image = image;
    urls.push_back(std::move(url));
    return true;
  };
  size_t text_from = 0;
  auto flush_text = [&](size_t to) {
    if (to <= text_from) return;
    std::string_view chunk = html.substr(text_from, to - text_from);
    size_t c = visible_chars(chunk);
    (hidden ? f.hidden_chars : f.text_chars) += c;
  };
  while (i < n) {
    size_t lt = html.find('<', i);
    if (lt == std::string_view::npos) break;
    if (html.compare(lt, 4, "<!--") == 0) {
      flush_text(lt);
      size_t e = html.find("-->", lt + 4);
      i = text_from = e == std::string_view::npos ? n : e + 3;
      continue;
    }
    if (lt + 1 < n && (html[lt + 1] == '!' || html[lt + 1] == '?')) {
      flush_text(lt);
      size_t e = html.find('>', lt);
      i = text_from = e == std::string_view::npos ? n : e + 1;
      continue;
    }
    Tag t;
    size_t after = parse_tag(html, lt, t);
    if (after == std::string_view::npos) {
      i = lt + 1;
      continue;
    }
    flush_text(lt);
    text_from = after;
    i = after;
    if (!t.closing && (t.name == "script" || t.name == "style" || t.name == "title")) {
      if (t.name == "script") f.has_script = true;
      std::string close = "</" + t.name;
      size_t e = i;
      while ((e = html.find('<', e)) != std::string_view::npos && !istarts(html, e, close)) ++e;
      if (e == std::string_view::npos) {
        i = text_from = n;
      } else {
        size_t gt = html.find('>', e);
        i = text_from = gt == std::string_view::npos ? n : gt + 1;
      }
      continue;
    }
    if (t.closing) {
      if (t.name == "a" && anchor_start != std::string_view::npos) {
        if (anchor_url < urls.size()) {
          std::string text = mail::html_to_text(html.substr(anchor_start, lt - anchor_start));
          while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
            text.pop_back();
          }
          size_t s = 0;
          while (s < text.size() && std::isspace(static_cast<unsigned char>(text[s]))) ++s;
          urls[anchor_url].anchor_text = text.substr(s);
        }
        anchor_start = std::string_view::npos;
      }
      for (size_t k = stack.size(); k > 0; --k) {
        if (stack[k - 1].name == t.name) {
          stack.resize(k - 1);
          recompute();
          break;
        }
      }
      continue;
    }
    // Opening tags.
    if (t.name == "a" || t.name == "area") {
      ++f.links;
      if (const std::string* h = t.attr("href")) {
        if (add_url(*h, false, false) && t.name == "a") {
          anchor_start = after;
          anchor_url = urls.size() - 1;
        }
      }
    } else if (t.name == "img") {
      ++f.images;
      if (const std::string* s = t.attr("src")) add_url(*s, false, true);
    } else if (t.name == "form") {
      ++f.forms;
      if (const std::string* a = t.attr("action")) add_url(*a, true, false);
    } else if (t.name == "input") {
      if (const std::string* ty = t.attr("type"); ty && mail::to_lower(*ty) == "password") {
        ++f.password_inputs;
      }
    } else if (t.name == "iframe") {
      f.has_iframe = true;
      if (const std::string* s = t.attr("src")) add_url(*s, false, false);
    } else if (t.name == "meta") {
      if (const std::string* h = t.attr("http-equiv"); h && mail::to_lower(*h) == "refresh") {
        f.meta_refresh = true;
      }
    }
    if (is_void(t.name) || t.self_closing) continue;
    if (stack.size() < 256) {
      stack.push_back({t.name, hides(t, bg), own_background(t)});
      recompute();
    }
  }
  flush_text(n);
}

// ---- attachments ----

uint16_t le16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(b[at]) |
                               (static_cast<unsigned char>(b[at + 1]) << 8));
}
uint32_t le32(std::string_view b, size_t at) {
  return static_cast<uint32_t>(le16(b, at)) | (static_cast<uint32_t>(le16(b, at + 2)) << 16);
}

// Names in a zip's central directory; sets *encrypted when an entry is.
std::vector<std::string> zip_names(std::string_view z, bool* encrypted) {
  std::vector<std::string> out;
  if (z.size() < 22) return out;
  size_t from = z.size() > 65557 ? z.size() - 65557 : 0;
  size_t eocd = std::string_view::npos;
  for (size_t p = z.size() - 22 + 1; p-- > from;) {
    if (z.compare(p, 4, "PK\x05\x06") == 0) {
      eocd = p;
      break;
    }
  }
  if (eocd == std::string_view::npos) return out;
  size_t entries = le16(z, eocd + 10);
  size_t at = le32(z, eocd + 16);
  for (size_t k = 0; k < entries && out.size() < 200; ++k) {
    if (at + 46 > z.size() || z.compare(at, 4, "PK\x01\x02") != 0) break;
    uint16_t flags = le16(z, at + 8);
    size_t nl = le16(z, at + 28), xl = le16(z, at + 30), cl = le16(z, at + 32);
    if (at + 46 + nl > z.size()) break;
    if (flags & 1) *encrypted = true;
    out.emplace_back(z.substr(at + 46, nl));
    at += 46 + nl + xl + cl;
  }
  return out;
}

std::string magic_of(std::string_view b) {
  auto at = [&](size_t off, std::string_view sig) {
    return b.size() >= off + sig.size() && b.compare(off, sig.size(), sig) == 0;
  };
  if (at(0, "MZ")) return "pe";
  if (at(0, "\x7f" "ELF")) return "elf";
  if (at(0, "PK\x03\x04") || at(0, "PK\x05\x06")) return "zip";
  if (at(0, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")) return "ole";
  if (at(0, "%PDF")) return "pdf";
  if (at(0, "\x89PNG")) return "png";
  if (at(0, "\xFF\xD8\xFF")) return "jpeg";
  if (at(0, "GIF8")) return "gif";
  if (at(0, "Rar!")) return "rar";
  if (at(0, "7z\xBC\xAF")) return "7z";
  if (at(0, "\x1f\x8b")) return "gzip";
  if (at(0x8001, "CD001")) return "iso";
  if (b.size() >= 8 && b.compare(0, 8, std::string_view("L\0\0\0\x01\x14\x02\0", 8)) == 0) {
    return "lnk";
  }
  std::string head = mail::to_lower(b.substr(0, 512));
  size_t s = 0;
  while (s < head.size() && std::isspace(static_cast<unsigned char>(head[s]))) ++s;
  if (head.compare(s, 5, "<html") == 0 || head.compare(s, 9, "<!doctype") == 0) return "html";
  return "";
}

bool has_utf16(std::string_view b, std::string_view ascii) {
  std::string w;
  for (char c : ascii) {
    w += c;
    w += '\0';
  }
  return b.find(w) != std::string_view::npos;
}

// ---- header helpers ----

std::string lower_domain(std::string_view d) {
  std::string s = mail::to_lower(d);
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

std::string address_domain(std::string_view address) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) return "";
  std::string d = lower_domain(address.substr(at + 1));
  while (!d.empty() && (d.back() == '>' || d.back() == ' ')) d.pop_back();
  return d;
}

std::string url_host(std::string_view url) {
  size_t colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0) return "";
  std::string scheme = mail::to_lower(url.substr(0, colon));
  if (scheme != "http" && scheme != "https" && scheme != "ftp") return "";
  size_t p = colon + 1;
  while (p < url.size() && (url[p] == '/' || url[p] == '\\')) ++p;
  size_t end = p;
  while (end < url.size() && url[end] != '/' && url[end] != '?' && url[end] != '#' &&
         url[end] != '\\' && !url_char_end(static_cast<unsigned char>(url[end]))) {
    ++end;
  }
  std::string_view auth = url.substr(p, end - p);
  if (size_t at = auth.rfind('@'); at != std::string_view::npos) auth.remove_prefix(at + 1);
  std::string host;
  if (!auth.empty() && auth[0] == '[') {
    size_t rb = auth.find(']');
    host = std::string(auth.substr(1, rb == std::string_view::npos ? auth.size() - 1 : rb - 1));
  } else {
    host = std::string(auth.substr(0, auth.find(':')));
  }
  // Percent-encoded hosts are decoded: browsers do.
  std::string dec;
  for (size_t i = 0; i < host.size(); ++i) {
    if (host[i] == '%' && i + 2 < host.size() && std::isxdigit(static_cast<unsigned char>(host[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(host[i + 2]))) {
      dec += static_cast<char>(std::stoi(host.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      dec += host[i];
    }
  }
  return lower_domain(dec);
}

std::vector<std::string> find_urls(std::string_view text, size_t max) {
  std::vector<std::string> out;
  size_t i = 0, n = text.size();
  while (i < n && out.size() < max) {
    size_t best = std::string_view::npos;
    for (size_t p = i; p < n; ++p) {
      char c = lower(text[p]);
      if ((c == 'h' && (istarts(text, p, "http://") || istarts(text, p, "https://"))) ||
          (c == 'w' && istarts(text, p, "www.") &&
           (p == 0 || !std::isalnum(static_cast<unsigned char>(text[p - 1]))))) {
        best = p;
        break;
      }
    }
    if (best == std::string_view::npos) break;
    size_t e = best;
    while (e < n && !url_char_end(static_cast<unsigned char>(text[e]))) ++e;
    std::string u(text.substr(best, e - best));
    while (!u.empty() && std::strchr(".,;:!?)]*", u.back())) u.pop_back();
    if (lower(u[0]) == 'w') u = "http://" + u;
    if (!url_host(u).empty()) out.push_back(std::move(u));
    i = e;
  }
  return out;
}

std::vector<std::string_view> Analysis::values(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const HeaderValue& h : headers) {
    if (h.name == name) out.push_back(h.decoded);
  }
  return out;
}

const HeaderValue* Analysis::first(std::string_view name) const {
  for (const HeaderValue& h : headers) {
    if (h.name == name) return &h;
  }
  return nullptr;
}

base::Result<Analysis> analyze(std::string raw, const AnalyzeOptions& o) {
  auto parsed = Message::parse(raw);
  if (!parsed) return parsed.error();
  const Message& m = *parsed;
  Analysis a;
  const Part& root = m.root();
  bool mime_fields = false;
  for (const mail::HeaderField& f : m.headers(root)) {
    HeaderValue h;
    h.name = mail::to_lower(m.field_name(root, f));
    std::string_view rv = m.field_value(root, f);
    h.raw = mail::unfold(rv);
    h.decoded = mail::decode_unstructured(rv);
    for (unsigned char c : rv) {
      if (c >= 0x80) {
        if (!mail::is_valid_utf8(rv)) a.defects.eight_bit_headers = true;
        break;
      }
    }
    if (h.name == "content-type" || h.name == "content-transfer-encoding") mime_fields = true;
    if (h.name == "received") ++a.received_count;
    a.headers.push_back(std::move(h));
  }
  if (const HeaderValue* s = a.first("subject")) a.subject = s->decoded;
  if (const HeaderValue* f = a.first("from")) {
    auto list = mail::parse_address_list(f->raw).flatten();
    if (!list.empty()) {
      a.from_name = list[0].name.value_or("");
      a.from_address = list[0].address.value_or("");
      a.from_domain = address_domain(a.from_address);
    }
  }
  if (const HeaderValue* r = a.first("reply-to")) {
    auto list = mail::parse_address_list(r->raw).flatten();
    if (!list.empty() && list[0].address) {
      a.reply_to_address = *list[0].address;
      a.reply_to_domain = address_domain(a.reply_to_address);
    }
  }
  if (const HeaderValue* r = a.first("return-path")) a.return_path_domain = address_domain(r->raw);
  for (const char* name : {"to", "cc"}) {
    for (std::string_view v : a.values(name)) {
      for (const mail::Address& ad : mail::parse_address_list(v).flatten()) {
        if (ad.address) a.to_addresses.push_back(mail::to_lower(*ad.address));
      }
    }
  }
  if (const HeaderValue* d = a.first("date")) {
    a.has_date = true;
    if (auto dt = mail::parse_date(d->raw)) a.date = dt->to_unix();
  }
  if (const HeaderValue* id = a.first("message-id")) {
    a.has_message_id = true;
    a.message_id = id->raw;
    auto ids = mail::parse_message_ids(id->raw);
    a.message_id_valid = ids.size() == 1 && ids[0].find('@') != std::string::npos &&
                         id->raw.find('<') != std::string::npos;
  }
  a.defects.missing_mime_version = mime_fields && !a.first("mime-version");

  // Body text, HTML and attachments over every (nested) message.
  std::set<uint32_t> body_parts;
  std::string text;
  if (!a.subject.empty()) text = a.subject + "\n";
  bool any_plain = false, any_html = false;
  for (const mail::MessageNode& node : m.messages()) {
    for (uint32_t i : node.text_body) {
      body_parts.insert(i);
      const Part& p = m.part(i);
      if (p.kind == PartKind::kHtml) {
        any_html = true;
        std::string h = m.text(p);
        text += mail::html_to_text(h);
        a.html += h;
      } else if (p.kind == PartKind::kText) {
        any_plain = true;
        text += m.text(p);
      }
      text += '\n';
      if (text.size() > o.max_body_chars) break;
    }
    for (uint32_t i : node.html_body) {
      const Part& p = m.part(i);
      if (p.kind != PartKind::kHtml || body_parts.count(i)) continue;
      body_parts.insert(i);
      any_html = true;
      a.html += m.text(p);
    }
  }
  if (text.size() > o.max_body_chars) text.resize(o.max_body_chars);
  a.body = mail::sanitize_utf8(text);
  a.html_only = any_html && !any_plain;
  for (const Part& p : m.parts()) {
    ++a.parts;
    if (p.missing_delimiter) a.defects.missing_delimiter = true;
    if (p.bad_encoding) a.defects.bad_encoding = true;
    if (p.content_type.type == "multipart" && p.kind != PartKind::kMultipart) {
      a.defects.multipart_no_boundary = true;
    }
    if (p.kind == PartKind::kHtml) ++a.html_features.parts;
    if (!p.is_leaf() || body_parts.count(static_cast<uint32_t>(&p - m.parts().data()))) continue;
    if (p.kind == PartKind::kText && !p.disposition && p.content_type_defaulted) continue;
    std::string fname = m.filename(p);
    bool attach_disp = p.disposition && p.disposition->type == "attachment";
    if (p.kind == PartKind::kText && fname.empty() && !attach_disp) continue;
    AttachmentInfo at;
    at.filename = fname;
    at.content_type = p.content_type.type + "/" + p.content_type.subtype.value_or("");
    std::string bytes = m.decoded_body(p);
    at.size = bytes.size();
    at.magic = magic_of(bytes);
    if (at.magic == "zip") {
      at.archive_names = zip_names(bytes, &at.encrypted_archive);
      for (const std::string& nm : at.archive_names) {
        if (nm.size() >= 14 && mail::to_lower(nm).find("vbaproject.bin") != std::string::npos) {
          at.has_vba = true;
        }
      }
    } else if (at.magic == "ole") {
      at.has_vba = has_utf16(bytes, "_VBA_PROJECT") || has_utf16(bytes, "VBA");
    }
    a.attachments.push_back(std::move(at));
  }
  // URLs: from the HTML (with anchor texts), then from the text.
  for (const Part& p : m.parts()) {
    if (p.kind != PartKind::kHtml) continue;
    scan_html(m.text(p), a.html_features, a.urls, o.max_urls);
  }
  std::set<std::string> seen;
  for (const Url& u : a.urls) seen.insert(u.url);
  for (std::string& u : find_urls(a.body, o.max_urls)) {
    if (a.urls.size() >= o.max_urls) break;
    if (!seen.insert(u).second) continue;
    Url url;
    url.host = url_host(u);
    url.scheme = mail::to_lower(u.substr(0, u.find(':')));
    url.url = std::move(u);
    a.urls.push_back(std::move(url));
  }
  // Authentication-Results from our own authserv-ids.
  std::string_view headers_block = m.raw_headers(root);
  for (const std::string& id : o.authserv_ids) {
    for (const std::string& r : auth::arc::collect_results(headers_block, id)) {
      a.auth.present = true;
      size_t eq = r.find('=');
      if (eq == std::string::npos) continue;
      std::string method = mail::to_lower(r.substr(0, eq));
      size_t e = eq + 1;
      while (e < r.size() && !std::isspace(static_cast<unsigned char>(r[e])) && r[e] != ';') ++e;
      std::string result = mail::to_lower(r.substr(eq + 1, e - eq - 1));
      std::string* slot = method == "spf"     ? &a.auth.spf
                          : method == "dkim"  ? &a.auth.dkim
                          : method == "dmarc" ? &a.auth.dmarc
                          : method == "arc"   ? &a.auth.arc
                                              : nullptr;
      // DKIM: one pass among several signatures counts as pass.
      if (slot && (slot->empty() || result == "pass")) *slot = result;
    }
  }
  a.raw = std::move(raw);
  return a;
}

}  // namespace postern::spam
