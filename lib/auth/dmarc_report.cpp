#include "auth/dmarc_report.h"
#include "base/clock.h"
#include "mail/header.h"

#include <expat.h>
#include <openssl/evp.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <ctime>
#include <map>
#include <memory>
#include <tuple>

#include "auth/dmarc.h"
#include "auth/lexical.h"
#include "mail/message.h"
#include "mail/writer.h"

namespace postern::auth::dmarc_report {

namespace json = boost::json;
using base::Error;

namespace {

// ------------------------------------------------------------------ helpers

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// XML 1.0 2.4 / 2.2: markup characters escaped; C0 controls other than tab, LF and CR are
// not allowed in XML 1.0 at all and are dropped.
std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
        out += c;
    }
  }
  return out;
}

class XmlOut {
 public:
  void open(std::string_view name) {
    indent();
    out_ += "<" + std::string(name) + ">\n";
    ++depth_;
  }
  void close(std::string_view name) {
    --depth_;
    indent();
    out_ += "</" + std::string(name) + ">\n";
  }
  void leaf(std::string_view name, std::string_view text) {
    indent();
    out_ += "<" + std::string(name) + ">" + escape(text) + "</" + std::string(name) + ">\n";
  }
  void optional(std::string_view name, std::string_view text) {
    if (!text.empty()) leaf(name, text);
  }
  std::string& str() { return out_; }

 private:
  void indent() { out_.append(static_cast<size_t>(depth_) * 2, ' '); }
  std::string out_;
  int depth_ = 0;
};

std::string hex(const unsigned char* p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  return hex(md, len);
}

// A domain name as a file-name component: anything but letters, digits, '.', '-' and '_'
// becomes '_', so a strange name can never leave the output directory.
std::string safe_name(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_';
    out += ok ? c : '_';
  }
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

std::string utc_time(int64_t t) { return base::utc_datetime(t) + " UTC"; }

}  // namespace

// ------------------------------------------------------------------ writing

std::string to_xml(const Feedback& f) {
  XmlOut x;
  x.str() = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x.open("feedback");
  x.leaf("version", f.version.empty() ? "1.0" : f.version);
  x.open("report_metadata");
  const Metadata& m = f.metadata;
  x.leaf("org_name", m.org_name);
  x.leaf("email", m.email);
  x.optional("extra_contact_info", m.extra_contact_info);
  x.leaf("report_id", m.report_id);
  x.open("date_range");
  x.leaf("begin", std::to_string(m.begin));
  x.leaf("end", std::to_string(m.end));
  x.close("date_range");
  for (const auto& e : m.errors) x.leaf("error", e);
  x.close("report_metadata");
  const PolicyPublished& p = f.policy;
  x.open("policy_published");
  x.leaf("domain", p.domain);
  x.optional("adkim", p.adkim);
  x.optional("aspf", p.aspf);
  x.leaf("p", p.p.empty() ? "none" : p.p);
  x.leaf("sp", !p.sp.empty() ? p.sp : p.p.empty() ? "none" : p.p);
  x.leaf("pct", std::to_string(p.pct.value_or(100)));
  x.leaf("fo", p.fo.empty() ? "0" : p.fo);
  x.close("policy_published");
  for (const Row& r : f.rows) {
    x.open("record");
    x.open("row");
    x.leaf("source_ip", r.source_ip);
    x.leaf("count", std::to_string(r.count));
    x.open("policy_evaluated");
    x.leaf("disposition", r.disposition.empty() ? "none" : r.disposition);
    x.leaf("dkim", r.dkim.empty() ? "fail" : r.dkim);
    x.leaf("spf", r.spf.empty() ? "fail" : r.spf);
    for (const auto& why : r.reasons) {
      x.open("reason");
      x.leaf("type", why.type.empty() ? "other" : why.type);
      x.optional("comment", why.comment);
      x.close("reason");
    }
    x.close("policy_evaluated");
    x.close("row");
    x.open("identifiers");
    x.optional("envelope_to", r.envelope_to);
    x.leaf("envelope_from", r.envelope_from);
    x.leaf("header_from", r.header_from);
    x.close("identifiers");
    x.open("auth_results");
    for (const auto& d : r.dkim_results) {
      x.open("dkim");
      x.leaf("domain", d.domain);
      x.optional("selector", d.selector);
      x.leaf("result", d.result.empty() ? "none" : d.result);
      x.optional("human_result", d.human_result);
      x.close("dkim");
    }
    std::vector<SpfResult> spf = r.spf_results;
    if (spf.empty()) spf.push_back({"", "", "none", ""});  // the schema requires one
    for (const auto& s : spf) {
      x.open("spf");
      x.leaf("domain", s.domain);
      x.optional("scope", s.scope);
      x.leaf("result", s.result.empty() ? "none" : s.result);
      x.close("spf");
    }
    x.close("auth_results");
    x.close("record");
  }
  x.close("feedback");
  return std::move(x.str());
}

base::Result<MailtoUri> parse_mailto_uri(std::string_view uri) {
  uri = trim(uri);
  if (uri.size() < 7 || mail::to_lower(uri.substr(0, 7)) != "mailto:") {
    return Error::bad_data("not a mailto: URI: " + std::string(uri));
  }
  std::string_view rest = uri.substr(7);
  MailtoUri out;
  // RFC 7489 6.2: dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]; a "!" inside
  // the URI itself is %-encoded, so the last "!" starts the size.
  if (size_t bang = rest.rfind('!'); bang != std::string_view::npos) {
    std::string_view size = rest.substr(bang + 1);
    rest = rest.substr(0, bang);
    uint64_t unit = 1;
    if (!size.empty()) {
      switch (size.back()) {
        case 'k':
        case 'K':
          unit = uint64_t{1} << 10;
          break;
        case 'm':
        case 'M':
          unit = uint64_t{1} << 20;
          break;
        case 'g':
        case 'G':
          unit = uint64_t{1} << 30;
          break;
        case 't':
        case 'T':
          unit = uint64_t{1} << 40;
          break;
        default:
          break;
      }
      if (unit != 1) size.remove_suffix(1);
    }
    uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(size.data(), size.data() + size.size(), n);
    if (size.empty() || ec != std::errc() || ptr != size.data() + size.size() ||
        n > UINT64_MAX / unit) {
      return Error::bad_data("bad size limit in rua URI: " + std::string(uri));
    }
    out.max_size = n * unit;
  }
  // Drop any ?headers part (RFC 6068); %-decode the address.
  rest = rest.substr(0, rest.find('?'));
  std::string addr;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '%' && i + 2 < rest.size()) {
      unsigned v = 0;
      auto [p, e] = std::from_chars(rest.data() + i + 1, rest.data() + i + 3, v, 16);
      if (e == std::errc() && p == rest.data() + i + 3) {
        addr += static_cast<char>(v);
        i += 2;
        continue;
      }
    }
    addr += rest[i];
  }
  if (addr.find('@') == std::string::npos ||
      addr.find_first_of(" \t\r\n<>,") != std::string::npos) {
    return Error::bad_data("bad address in rua URI: " + std::string(uri));
  }
  out.address = std::move(addr);
  return out;
}

RecordLines parse_record_lines(std::string_view rest) {
  RecordLines out;
  for (size_t line = 1; !rest.empty(); ++line) {
    size_t nl = rest.find('\n');
    std::string_view l = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (trim(l).empty()) continue;
    auto r = record_from_json(l);
    if (r) {
      out.records.push_back(std::move(*r));
    } else {
      out.problems.push_back("line " + std::to_string(line) + ": " + r.error().message());
    }
  }
  return out;
}

Recipients mail_recipients(const std::vector<std::string>& rua, uint64_t size) {
  Recipients out;
  for (const auto& uri : rua) {
    auto m = parse_mailto_uri(uri);
    if (!m) {
      bool other = m.error().message().starts_with("not a mailto:");
      out.skipped.emplace_back(uri,
                               other ? "only mailto: URIs are supported" : m.error().message());
    } else if (m->max_size && size > m->max_size) {
      out.skipped.emplace_back(uri, "report of " + std::to_string(size) +
                                        " bytes is over the size limit of " +
                                        std::to_string(m->max_size));
    } else if (std::find(out.to.begin(), out.to.end(), m->address) == out.to.end()) {
      out.to.push_back(m->address);
    }
  }
  return out;
}

base::Task<CheckedRecipients> check_destinations(dns::Resolver& resolver,
                                                 const PublicSuffixList& psl,
                                                 std::string policy_domain, Recipients in) {
  CheckedRecipients out;
  out.recipients.skipped = std::move(in.skipped);
  std::string org = dmarc::org_domain(mail::to_lower(policy_domain), psl);
  for (auto& address : in.to) {
    std::string domain = mail::to_lower(address.substr(address.rfind('@') + 1));
    if (dmarc::org_domain(domain, psl) == org) {
      out.recipients.to.push_back(std::move(address));
      continue;
    }
    std::string name = mail::to_lower(policy_domain) + "._report._dmarc." + domain;
    dns::Answer a = co_await resolver.lookup(name, dns::RrType::kTxt);
    bool authorized = false;
    for (const auto& r : a.records) {
      std::string_view t = r.text;
      authorized = authorized || (t.size() >= 8 && mail::to_lower(t.substr(0, 8)) == "v=dmarc1");
    }
    if (authorized) {
      out.recipients.to.push_back(std::move(address));
    } else if (a.status == dns::Status::kServFail || a.status == dns::Status::kTimeout) {
      out.temporary = true;
      out.recipients.skipped.emplace_back(address, "DNS failure looking up " + name);
    } else {
      out.recipients.skipped.emplace_back(
          address, "not authorized: no v=DMARC1 record at " + name + " (RFC 7489 7.1)");
    }
  }
  co_return out;
}

namespace {

Row row_of(const Record& r) {
  Row row;
  row.source_ip = r.source_ip;
  row.count = 1;
  row.disposition = r.disposition.empty() ? "none" : r.disposition;
  row.dkim = r.dkim_aligned ? "pass" : "fail";
  row.spf = r.spf_aligned ? "pass" : "fail";
  for (const auto& why : r.reasons) row.reasons.push_back({why.type, why.comment});
  row.envelope_to = r.envelope_to;
  row.envelope_from = r.envelope_from;
  row.header_from = r.header_from.empty() && r.policy ? r.policy->domain : r.header_from;
  for (const auto& d : r.dkim) {
    row.dkim_results.push_back(
        {d.domain, d.selector, d.result.empty() ? "none" : d.result, d.human_result});
  }
  row.spf_results.push_back(
      {r.spf_domain, r.spf_scope, r.spf_result.empty() ? "none" : r.spf_result, ""});
  return row;
}

// Everything that makes two rows the same row (RFC 7489 7.2: one record per distinct
// combination), as a string.
std::string row_key(const Row& r) {
  json::array reasons, dkim, spf;
  for (const auto& x : r.reasons) reasons.push_back(json::array{x.type, x.comment});
  for (const auto& d : r.dkim_results) {
    dkim.push_back(json::array{d.domain, d.selector, d.result, d.human_result});
  }
  for (const auto& s : r.spf_results) spf.push_back(json::array{s.domain, s.scope, s.result});
  return json::serialize(json::array{r.source_ip, r.disposition, r.dkim, r.spf, reasons,
                                     r.envelope_to, r.envelope_from, r.header_from, dkim, spf});
}

struct Group {
  const Record* newest = nullptr;
  std::vector<Row> rows;
  std::map<std::string, size_t> index;
};

}  // namespace

Grouping group_records(const std::vector<Record>& records, const Reporter& who,
                       const GroupOptions& o) {
  Grouping g;
  const bool window = o.begin != 0 || o.end != 0;
  const int64_t period = o.period > 0 ? o.period : 86400;
  std::map<std::tuple<std::string, int64_t, int64_t>, Group> groups;
  for (const Record& r : records) {
    if (!r.policy || r.policy->domain.empty()) {
      ++g.no_policy;
      continue;
    }
    if (r.policy->rua.empty()) {
      ++g.no_rua;
      continue;
    }
    int64_t begin, end;
    if (window) {
      if (r.time < o.begin || r.time >= o.end) {
        ++g.outside;
        continue;
      }
      begin = o.begin;
      end = o.end;
    } else {
      begin = r.time >= 0 ? r.time / period * period : -((-r.time + period - 1) / period) * period;
      end = begin + period;
      if (end > o.now) {
        ++g.incomplete;
        continue;
      }
    }
    Group& grp = groups[{mail::to_lower(r.policy->domain), begin, end}];
    if (!grp.newest || r.time >= grp.newest->time) grp.newest = &r;
    Row row = row_of(r);
    auto [it, fresh] = grp.index.emplace(row_key(row), grp.rows.size());
    if (fresh) {
      grp.rows.push_back(std::move(row));
    } else {
      ++grp.rows[it->second].count;
    }
  }
  for (auto& [key, grp] : groups) {
    const auto& [domain, begin, end] = key;
    const RecordPolicy& pol = *grp.newest->policy;
    Report rep;
    rep.domain = domain;
    rep.rua = pol.rua;
    Feedback& f = rep.feedback;
    f.version = "1.0";
    f.metadata.org_name = who.org_name;
    f.metadata.email = who.email;
    f.metadata.extra_contact_info = who.extra_contact_info;
    f.metadata.begin = begin;
    f.metadata.end = end - 1;  // the last second covered, as most reporters write it
    const std::string span = std::to_string(begin) + "!" + std::to_string(end - 1);
    f.metadata.report_id =
        sha256_hex(mail::to_lower(who.receiver) + "!" + domain + "!" + span).substr(0, 32);
    f.policy.domain = domain;
    f.policy.adkim = pol.adkim.empty() ? "r" : pol.adkim;
    f.policy.aspf = pol.aspf.empty() ? "r" : pol.aspf;
    f.policy.p = pol.p.empty() ? "none" : pol.p;
    f.policy.sp = pol.sp.empty() ? f.policy.p : pol.sp;
    f.policy.np = pol.np;
    f.policy.pct = pol.pct;
    f.policy.fo = pol.fo.empty() ? "0" : pol.fo;
    for (const Row& r : grp.rows) rep.messages += r.count;
    f.rows = std::move(grp.rows);
    // RFC 7489 7.2.1.1: filename = receiver "!" policy-domain "!" begin-timestamp "!"
    // end-timestamp [ "!" unique-id ] "." extension
    rep.filename =
        safe_name(mail::to_lower(who.receiver)) + "!" + safe_name(domain) + "!" + span + ".xml.gz";
    g.reports.push_back(std::move(rep));
  }
  return g;
}

std::string report_message(const Report& rep, std::string_view gz, std::string_view from,
                           const std::vector<std::string>& to, int64_t now) {
  const Metadata& m = rep.feedback.metadata;
  std::string submitter = rep.filename.substr(0, rep.filename.find('!'));
  std::string to_list;
  for (const auto& a : to) to_list += (to_list.empty() ? "" : ", ") + a;
  // RFC 7489 7.2.1.1: "Report Domain:" domain "Submitter:" domain "Report-ID:" msg-id.
  std::string subject = "Report Domain: " + rep.domain + " Submitter: " + submitter +
                        " Report-ID: <" + m.report_id + ">";
  std::string text = "This is a DMARC aggregate report (RFC 7489) from " + m.org_name + ".\n\n" +
                     "Report domain: " + rep.domain + "\n" + "Submitter:     " + submitter + "\n" +
                     "Report ID:     " + m.report_id + "\n" +
                     "Period:        " + utc_time(m.begin) + " to " + utc_time(m.end) + "\n" +
                     "Messages:      " + std::to_string(rep.messages) + "\n";
  mail::MimeBuilder mb("mixed");
  mb.header("From", from)
      .header("To", to_list)
      .header("Subject", mail::encode_header_value(subject, 7))
      .header("Date", mail::format_date(now, 0))
      .header("Message-ID", "<" + m.report_id + "." + std::to_string(now) + "@" + submitter + ">")
      .header("Auto-Submitted", "auto-generated")
      .text(text)
      .attachment(gz, "application/gzip", rep.filename);
  return mb.build();
}

// ------------------------------------------------------------------ reading

namespace {

struct Node {
  std::string name;  // local name, namespace prefix dropped
  std::string text;
  std::vector<std::pair<std::string, std::string>> attrs;
  std::vector<std::unique_ptr<Node>> children;
  Node* parent = nullptr;

  const Node* child(std::string_view n) const {
    for (const auto& c : children) {
      if (c->name == n) return c.get();
    }
    return nullptr;
  }
  std::vector<const Node*> all(std::string_view n) const {
    std::vector<const Node*> out;
    for (const auto& c : children) {
      if (c->name == n) out.push_back(c.get());
    }
    return out;
  }
  std::string str(std::string_view n) const {
    const Node* c = child(n);
    return c ? std::string(trim(c->text)) : std::string();
  }
  std::string word(std::string_view n) const { return mail::to_lower(str(n)); }
  std::string attr(std::string_view n) const {
    for (const auto& [k, v] : attrs) {
      if (k == n) return v;
    }
    return {};
  }
};

constexpr int kMaxDepth = 64;
constexpr size_t kMaxNodes = 2'000'000;

struct Builder {
  Node root;
  Node* cur = &root;
  int depth = 0;
  size_t nodes = 0;
  bool too_deep = false;
  XML_Parser parser = nullptr;
};

std::string local_name(const char* n) {
  std::string_view s(n);
  // With namespace processing off, a name is "prefix:local" as written.
  if (size_t colon = s.rfind(':'); colon != std::string_view::npos) s = s.substr(colon + 1);
  return std::string(s);
}

void XMLCALL on_start(void* ud, const XML_Char* name, const XML_Char** atts) {
  auto* b = static_cast<Builder*>(ud);
  if (++b->depth > kMaxDepth || ++b->nodes > kMaxNodes) {
    b->too_deep = true;
    XML_StopParser(b->parser, XML_FALSE);
    return;
  }
  auto n = std::make_unique<Node>();
  n->name = local_name(name);
  for (int i = 0; atts[i]; i += 2) n->attrs.emplace_back(local_name(atts[i]), atts[i + 1]);
  n->parent = b->cur;
  Node* raw = n.get();
  b->cur->children.push_back(std::move(n));
  b->cur = raw;
}

void XMLCALL on_end(void* ud, const XML_Char*) {
  auto* b = static_cast<Builder*>(ud);
  --b->depth;
  if (b->cur->parent) b->cur = b->cur->parent;
}

void XMLCALL on_text(void* ud, const XML_Char* s, int len) {
  auto* b = static_cast<Builder*>(ud);
  if (b->cur != &b->root) b->cur->text.append(s, static_cast<size_t>(len));
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// Parses with expat into a Node tree; `encoding` overrides the document's declaration.
base::Result<std::unique_ptr<Builder>> parse_tree(std::string_view xml, const char* encoding,
                                                  bool* unknown_encoding) {
  auto b = std::make_unique<Builder>();
  XML_Parser p = XML_ParserCreate(encoding);
  if (!p) return Error::internal("expat: cannot create a parser");
  std::unique_ptr<std::remove_pointer_t<XML_Parser>, void (*)(XML_Parser)> guard(p, XML_ParserFree);
  b->parser = p;
  XML_SetUserData(p, b.get());
  XML_SetElementHandler(p, on_start, on_end);
  XML_SetCharacterDataHandler(p, on_text);
  if (XML_Parse(p, xml.data(), static_cast<int>(xml.size()), XML_TRUE) == XML_STATUS_ERROR) {
    if (b->too_deep) {
      return Error::bad_data("XML nested deeper than " + std::to_string(kMaxDepth) +
                             " levels or with more than " + std::to_string(kMaxNodes) +
                             " elements");
    }
    XML_Error code = XML_GetErrorCode(p);
    auto e = Error::bad_data("line " + std::to_string(XML_GetCurrentLineNumber(p)) + " col " +
                             std::to_string(XML_GetCurrentColumnNumber(p) + 1) + ": " +
                             XML_ErrorString(code));
    *unknown_encoding =
        code == XML_ERROR_UNKNOWN_ENCODING || (code == XML_ERROR_INVALID_TOKEN && !valid_utf8(xml));
    return e;
  }
  return b;
}

base::Result<int64_t> number(const Node& n, std::string_view name, std::string_view where) {
  std::string s = n.str(name);
  int64_t v = 0;
  // Some reporters write "1.0"-style decimals or a leading '+'; take the integer part.
  std::string_view t = s;
  if (!t.empty() && t.front() == '+') t.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || (ptr != t.data() + t.size() && *ptr != '.')) {
    return Error::bad_data(std::string(where) + ": <" + std::string(name) +
                           "> is not a number: \"" + s + "\"");
  }
  return v;
}

std::vector<Extension> extensions_of(const Node* n) {
  std::vector<Extension> out;
  if (!n) return out;
  for (const Node* e : n->all("extension")) out.push_back({e->attr("name"), e->attr("definition")});
  return out;
}

}  // namespace

base::Result<Feedback> parse_xml(std::string_view xml) {
  if (xml.size() > static_cast<size_t>(INT32_MAX)) return Error::bad_data("XML document too large");
  bool unknown_encoding = false;
  auto tree = parse_tree(xml, nullptr, &unknown_encoding);
  if (!tree && unknown_encoding) {
    // An encoding expat does not know (windows-1252 is common), or 8-bit text that is not
    // UTF-8 in a document that claims it: read it as ISO-8859-1, which differs from
    // windows-1252 only in a few printable characters.
    std::string_view body = xml.substr(0, 3) == "\xEF\xBB\xBF" ? xml.substr(3) : xml;
    tree = parse_tree(body, "ISO-8859-1", &unknown_encoding);
  }
  if (!tree) return tree.error();
  const Node& top = (*tree)->root;
  const Node* fb = top.children.empty() ? nullptr : top.children.front().get();
  if (!fb || fb->name != "feedback") {
    return Error::bad_data("not a DMARC aggregate report: the root element is <" +
                           (fb ? fb->name : std::string()) + ">, not <feedback>");
  }
  Feedback f;
  f.version = fb->str("version");
  if (const Node* m = fb->child("report_metadata")) {
    f.metadata.org_name = m->str("org_name");
    f.metadata.email = m->str("email");
    f.metadata.extra_contact_info = m->str("extra_contact_info");
    f.metadata.report_id = m->str("report_id");
    f.metadata.generator = m->str("generator");
    for (const Node* e : m->all("error")) {
      if (auto t = trim(e->text); !t.empty()) f.metadata.errors.emplace_back(t);
    }
    if (const Node* d = m->child("date_range")) {
      auto b = number(*d, "begin", "date_range");
      if (!b) return b.error();
      auto e = number(*d, "end", "date_range");
      if (!e) return e.error();
      f.metadata.begin = *b;
      f.metadata.end = *e;
    }
  }
  if (const Node* p = fb->child("policy_published")) {
    PolicyPublished& pp = f.policy;
    pp.domain = mail::to_lower(p->str("domain"));
    pp.adkim = p->word("adkim");
    pp.aspf = p->word("aspf");
    pp.p = p->word("p");
    pp.sp = p->word("sp");
    pp.np = p->word("np");
    pp.fo = p->str("fo");
    pp.testing = p->word("testing");
    pp.discovery_method = p->word("discovery_method");
    if (!p->str("pct").empty()) {
      auto pct = number(*p, "pct", "policy_published");
      if (!pct) return pct.error();
      pp.pct = *pct;
    }
  }
  size_t i = 0;
  for (const Node* rec : fb->all("record")) {
    ++i;
    Row r;
    const std::string where = "record " + std::to_string(i);
    if (const Node* row = rec->child("row")) {
      r.source_ip = row->str("source_ip");
      auto c = number(*row, "count", where);
      if (!c) return c.error();
      if (*c < 0) return Error::bad_data(where + ": negative <count>");
      r.count = static_cast<uint64_t>(*c);
      if (const Node* pe = row->child("policy_evaluated")) {
        r.disposition = pe->word("disposition");
        r.dkim = pe->word("dkim");
        r.spf = pe->word("spf");
        for (const Node* why : pe->all("reason")) {
          r.reasons.push_back({why->word("type"), why->str("comment")});
        }
      }
    }
    if (const Node* id = rec->child("identifiers")) {
      r.envelope_to = mail::to_lower(id->str("envelope_to"));
      r.envelope_from = mail::to_lower(id->str("envelope_from"));
      r.header_from = mail::to_lower(id->str("header_from"));
    }
    if (const Node* ar = rec->child("auth_results")) {
      for (const Node* d : ar->all("dkim")) {
        r.dkim_results.push_back({mail::to_lower(d->str("domain")), d->str("selector"), d->word("result"),
                                  d->str("human_result")});
      }
      for (const Node* s : ar->all("spf")) {
        r.spf_results.push_back(
            {mail::to_lower(s->str("domain")), s->word("scope"), s->word("result"), s->str("human_result")});
      }
    }
    r.extensions = extensions_of(rec->child("extensions"));
    f.rows.push_back(std::move(r));
  }
  f.extensions = extensions_of(fb->child("extensions"));
  return f;
}

namespace {

// Is this the start of an XML document whose root element is <feedback> (with any
// prefix)? Skips a BOM, white space, the declaration, processing instructions, comments
// and a DOCTYPE.
bool looks_like_report(std::string_view s) {
  if (s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
  for (int guard = 0; guard < 64; ++guard) {
    s = trim(s);
    if (s.substr(0, 2) == "<?") {
      size_t e = s.find("?>");
      if (e == std::string_view::npos) return false;
      s.remove_prefix(e + 2);
    } else if (s.substr(0, 4) == "<!--") {
      size_t e = s.find("-->");
      if (e == std::string_view::npos) return false;
      s.remove_prefix(e + 3);
    } else if (s.substr(0, 2) == "<!") {
      size_t e = s.find('>');
      if (e == std::string_view::npos) return false;
      s.remove_prefix(e + 1);
    } else if (s.substr(0, 1) == "<") {
      size_t e = s.find_first_of(" \t\r\n/>", 1);
      std::string_view name = s.substr(1, e == std::string_view::npos ? s.size() - 1 : e - 1);
      if (size_t colon = name.rfind(':'); colon != std::string_view::npos) {
        name.remove_prefix(colon + 1);
      }
      return name == "feedback";
    } else {
      return false;
    }
  }
  return false;
}

bool starts_with_markup(std::string_view s) {
  if (s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
  s = trim(s);
  return !s.empty() && s.front() == '<';
}

enum class Origin { kTop, kArchive, kPart };

base::Status read_any(std::string_view data, const ReadOptions& o, Origin origin, int depth,
                      std::vector<Feedback>& out) {
  if (depth > 4) return Error::bad_data("reports nested too deeply (archive in archive ...)");
  if (base::is_gzip(data)) {
    auto x = base::gzip_decompress(data, o.max_inflated);
    if (!x) return x.error();
    return read_any(*x, o, Origin::kArchive, depth + 1, out);
  }
  if (base::is_zip(data)) {
    auto entries = base::zip_entries(data);
    if (!entries) return entries.error();
    size_t before = out.size();
    for (const auto& e : *entries) {
      if (e.is_directory()) continue;
      auto x = base::zip_extract(data, e, o.max_inflated);
      if (!x) return x.error();
      auto st = read_any(*x, o, Origin::kArchive, depth + 1, out);
      if (!st) return st.error().with_context("ZIP member " + e.name);
    }
    if (out.size() == before) return Error::bad_data("ZIP archive without a member");
    return {};
  }
  if (origin != Origin::kPart ? starts_with_markup(data) : looks_like_report(data)) {
    if (data.size() > o.max_xml) {
      return Error::bad_data("XML document larger than the limit of " + std::to_string(o.max_xml) +
                             " bytes");
    }
    auto f = parse_xml(data);
    if (!f) return f.error();
    out.push_back(std::move(*f));
    return {};
  }
  if (origin != Origin::kTop) return Error::bad_data("neither XML, gzip nor ZIP data");
  auto msg = mail::Message::parse(std::string(data));
  if (!msg) {
    return Error::bad_data("not a DMARC aggregate report: neither XML, gzip, ZIP nor a message");
  }
  size_t before = out.size();
  for (const mail::Part& p : msg->parts()) {
    if (!p.is_leaf()) continue;
    std::string body = msg->decoded_body(p);
    if (!base::is_gzip(body) && !base::is_zip(body) && !looks_like_report(body)) continue;
    auto st = read_any(body, o, Origin::kPart, depth + 1, out);
    if (!st) {
      std::string name = msg->filename(p);
      return st.error().with_context("part " + p.id + (name.empty() ? "" : " (" + name + ")"));
    }
  }
  if (out.size() == before) {
    return Error::bad_data("no aggregate report in the message (no XML, gzip or ZIP part)");
  }
  return {};
}

json::object maybe(std::initializer_list<std::pair<std::string_view, std::string_view>> kv) {
  json::object o;
  for (const auto& [k, v] : kv) {
    if (!v.empty()) o[k] = v;
  }
  return o;
}

json::array extensions_json(const std::vector<Extension>& v) {
  json::array a;
  for (const auto& e : v) a.push_back(maybe({{"name", e.name}, {"definition", e.definition}}));
  return a;
}

}  // namespace

base::Result<std::vector<Feedback>> read_reports(std::string_view data, const ReadOptions& o) {
  std::vector<Feedback> out;
  auto st = read_any(data, o, Origin::kTop, 0, out);
  if (!st) return st.error();
  return out;
}

std::string to_json(const Feedback& f, std::string_view file) {
  json::object doc;
  if (!file.empty()) doc["file"] = file;
  if (!f.version.empty()) doc["version"] = f.version;
  const Metadata& m = f.metadata;
  json::object meta = maybe({{"org_name", m.org_name},
                             {"email", m.email},
                             {"extra_contact_info", m.extra_contact_info},
                             {"report_id", m.report_id}});
  meta["date_range"] = json::object{{"begin", m.begin}, {"end", m.end}};
  json::array errors;
  for (const auto& e : m.errors) errors.emplace_back(e);
  meta["error"] = std::move(errors);
  if (!m.generator.empty()) meta["generator"] = m.generator;
  doc["report_metadata"] = std::move(meta);
  const PolicyPublished& p = f.policy;
  json::object pol = maybe({{"domain", p.domain},
                            {"adkim", p.adkim},
                            {"aspf", p.aspf},
                            {"p", p.p},
                            {"sp", p.sp},
                            {"np", p.np}});
  if (p.pct) pol["pct"] = *p.pct;
  for (auto [k, v] : {std::pair<std::string_view, std::string_view>{"fo", p.fo},
                      {"testing", p.testing},
                      {"discovery_method", p.discovery_method}}) {
    if (!v.empty()) pol[k] = v;
  }
  doc["policy_published"] = std::move(pol);
  json::array records;
  for (const Row& r : f.rows) {
    json::array reasons;
    for (const auto& why : r.reasons)
      reasons.push_back(maybe({{"type", why.type}, {"comment", why.comment}}));
    json::object pe = maybe({{"disposition", r.disposition}, {"dkim", r.dkim}, {"spf", r.spf}});
    pe["reason"] = std::move(reasons);
    json::object row = maybe({{"source_ip", r.source_ip}});
    row["count"] = r.count;
    row["policy_evaluated"] = std::move(pe);
    json::array dkim, spf;
    for (const auto& d : r.dkim_results) {
      dkim.push_back(maybe({{"domain", d.domain},
                            {"selector", d.selector},
                            {"result", d.result},
                            {"human_result", d.human_result}}));
    }
    for (const auto& s : r.spf_results) {
      spf.push_back(maybe({{"domain", s.domain},
                           {"scope", s.scope},
                           {"result", s.result},
                           {"human_result", s.human_result}}));
    }
    json::object rec;
    rec["row"] = std::move(row);
    rec["identifiers"] = maybe({{"envelope_to", r.envelope_to},
                                {"envelope_from", r.envelope_from},
                                {"header_from", r.header_from}});
    rec["auth_results"] = json::object{{"dkim", std::move(dkim)}, {"spf", std::move(spf)}};
    rec["extensions"] = extensions_json(r.extensions);
    records.push_back(std::move(rec));
  }
  doc["record"] = std::move(records);
  doc["extensions"] = extensions_json(f.extensions);
  return json::serialize(doc);
}

}  // namespace postern::auth::dmarc_report
