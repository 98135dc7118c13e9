// Conformance of the MIME parser against the stalwart mail-parser corpus
// (${POSTERN_TESTDATA}/stalwart-mail-parser/eml/{rfc,malformed,thirdparty}, see its
// SOURCE.txt). Each NNN.eml is parsed twice: with every CR removed (expected NNN.json) and
// with every bare LF turned into CRLF (expected NNN.crlf.json). Compared: the part tree,
// content types and parameters, decoded header values, decoded part contents (text as
// UTF-8, the rest as bytes) and the text body / HTML body / attachment lists.
// Not compared: byte offsets and mail-parser's is_encoding_problem flag (Postern keeps its
// own anomaly flags).
//
// Mapping of mail-parser body kinds: Multipart ↔ PartKind::kMultipart, Message ↔ kMessage,
// Html ↔ kHtml, Text ↔ kText (or a kBinary part Postern shows raw because its encoding is
// broken or its delimiter never came), Binary and InlineBinary ↔ any leaf (the inline/
// attachment distinction is checked through the body lists).
//
// Cases that do not match, and why we believe Postern is right (kKnown lists them):
//   thirdparty/015 (both)  The third message/rfc822 attachment is truncated: its header
//       block ("Content-Type: multipart/alternative; boundary=1N0DHcvl") runs straight
//       into the next "--=_2d98…" delimiter line with no empty line. mail-parser lets the
//       encapsulated header block run past the delimiter, swallowing the next two parts'
//       headers and nesting the following attachments inside each other. RFC 2046 5.1.1:
//       a delimiter line ends the body part whatever it holds, so Postern ends the
//       encapsulated message there and keeps the other two attachments as siblings
//       (5 top-level parts against mail-parser's 3).
//   rfc/002 (both)  "Received: … Mon, 13 Aug 1998 l8:14:23 +1000" (letter l for 1).
//       mail-parser reports 14:23:232 +0000, which is not a time; Postern's
//       parse_received gives no date for it.
//   thirdparty/005 (CRLF only)  A UTF-16LE body that the suite's LF→CRLF conversion
//       corrupts (a 0x0A byte inside UTF-16 code units gains a CR), leaving an odd
//       trailing byte ("…e\0\r\n\0"): mail-parser drops it silently, to_utf8 shows
//       U+FFFD for the truncated code unit so the damage stays visible.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "mail/header.h"
#include "mail/message.h"

namespace postern::mail {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string strip_cr(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != '\r') out += c;
  }
  return out;
}

std::string add_cr(std::string_view s) {
  std::string out;
  char last = 0;
  for (char c : s) {
    if (c == '\n' && last != '\r') out += '\r';
    out += c;
    last = c;
  }
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Folding removed: CR and LF dropped (the white space that follows stays).
std::string unfolded(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != '\r' && c != '\n') out += c;
  }
  return trim(out);
}

std::string str(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  return {};
}

std::optional<std::string> opt_str(const json::value& v) {
  if (v.is_null()) return std::nullopt;
  return str(v);
}

std::string show(const std::optional<std::string>& s) { return s ? "\"" + *s + "\"" : "null"; }

class Comparer {
 public:
  explicit Comparer(const Message& m) : m_(m) {}

  std::vector<std::string> errors;

  void message(const json::object& expected, uint32_t node_index, const std::string& where) {
    const MessageNode& node = m_.messages()[node_index];
    std::vector<uint32_t> flat;
    flatten(node.root, flat);
    std::map<uint32_t, size_t> local;
    for (size_t i = 0; i < flat.size(); ++i) local[flat[i]] = i;
    const json::array& parts = expected.at("parts").as_array();
    if (parts.size() != flat.size()) {
      fail(where, "part count: expected " + std::to_string(parts.size()) + ", got " +
                      std::to_string(flat.size()));
      return;
    }
    for (size_t i = 0; i < parts.size(); ++i) {
      part(parts[i].as_object(), flat[i], local, where + "[" + std::to_string(i) + "]");
    }
    list(expected, "text_body", node.text_body, local, where);
    list(expected, "html_body", node.html_body, local, where);
    list(expected, "attachments", node.attachments, local, where);
  }

 private:
  void fail(const std::string& where, const std::string& what) {
    errors.push_back(where + ": " + what);
  }

  void flatten(uint32_t idx, std::vector<uint32_t>& out) {
    out.push_back(idx);
    const Part& p = m_.part(idx);
    if (p.kind == PartKind::kMultipart) {
      for (uint32_t c : p.children) flatten(c, out);
    }
  }

  void list(const json::object& expected, const char* key, const std::vector<uint32_t>& got,
            std::map<uint32_t, size_t>& local, const std::string& where) {
    std::vector<size_t> want, have;
    if (auto* v = expected.if_contains(key)) {
      for (const auto& x : v->as_array()) want.push_back(static_cast<size_t>(x.to_number<int64_t>()));
    }
    for (uint32_t g : got) have.push_back(local.count(g) ? local[g] : 9999);
    if (want != have) {
      auto fmt = [](const std::vector<size_t>& v) {
        std::string s = "[";
        for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
        return s + "]";
      };
      fail(where, std::string(key) + ": expected " + fmt(want) + ", got " + fmt(have));
    }
  }

  static std::string expected_name(const json::value& name) {
    if (name.is_string()) return std::string(name.get_string());
    if (name.is_object() && !name.get_object().empty()) {
      return "other:" + str(name.get_object().begin()->value());
    }
    return "?";
  }

  static std::string our_name(std::string_view raw) {
    static const std::set<std::string> kKnown = {
        "subject", "from", "to", "cc", "bcc", "date", "message_id", "in_reply_to", "references",
        "reply_to", "sender", "return_path", "received", "mime_version", "content_type",
        "content_disposition", "content_transfer_encoding", "content_id", "content_language",
        "content_description", "content_location", "list_archive", "list_help", "list_id",
        "list_owner", "list_post", "list_subscribe", "list_unsubscribe", "keywords", "comments",
        "resent_date", "resent_from", "resent_to", "resent_cc", "resent_bcc",
        "resent_message_id", "resent_sender", "dkim_signature"};
    std::string n = lower(std::string(raw));
    for (char& c : n) {
      if (c == '-') c = '_';
    }
    if (kKnown.count(n)) return n;
    return "other:" + std::string(raw);
  }

  void content_type(const json::value& v, std::string_view raw, const std::string& where) {
    ContentType ct = parse_content_type(raw);
    const json::object& e = v.as_object().at("ContentType").as_object();
    std::string et = str(e.at("c_type"));
    auto es = opt_str(e.at("c_subtype"));
    if (lower(et) != lower(ct.type) ||
        (es ? std::optional<std::string>(lower(*es)) : std::nullopt) !=
            (ct.subtype ? std::optional<std::string>(lower(*ct.subtype)) : std::nullopt)) {
      fail(where, "content type: expected " + et + "/" + show(es) + ", got " + ct.type + "/" +
                      show(ct.subtype));
    }
    std::vector<std::pair<std::string, std::string>> want;
    if (e.at("attributes").is_array()) {
      for (const auto& a : e.at("attributes").as_array()) {
        want.emplace_back(lower(str(a.at("name"))), str(a.at("value")));
      }
    }
    auto have = ct.params;
    for (auto& [k, _] : have) k = lower(k);
    if (want != have) {
      std::string w, h;
      for (auto& [k, x] : want) w += k + "=" + x + ";";
      for (auto& [k, x] : have) h += k + "=" + x + ";";
      fail(where, "parameters: expected {" + w + "} got {" + h + "}");
    }
  }

  static bool date_equal(const json::object& e, const DateTime& d) {
    auto n = [&](const char* k) { return e.at(k).to_number<int64_t>(); };
    // The sign of a zero offset ("-0000", "GMT") says nothing about the instant;
    // mail-parser sets it inconsistently, so it is compared only for non-zero offsets.
    bool zero = n("tz_hour") == 0 && n("tz_minute") == 0;
    return n("year") == d.year && n("month") == d.month && n("day") == d.day &&
           n("hour") == d.hour && n("minute") == d.minute && n("second") == d.second &&
           (zero || e.at("tz_before_gmt").as_bool() == d.tz_before_gmt) &&
           n("tz_hour") == d.tz_hour && n("tz_minute") == d.tz_minute;
  }

  void header_value(const std::string& name, const json::value& v, std::string_view raw,
                    const std::string& where) {
    if (v.is_string() && v.get_string() == "Empty") {
      if (name == "date") {
        if (parse_date(raw)) fail(where, "date: expected none, got one");
      } else if (!trim(decode_unstructured(raw)).empty() && name != "content_disposition" &&
                 name != "content_type") {
        fail(where, "expected an empty value, got \"" + decode_unstructured(raw) + "\"");
      }
      return;
    }
    const json::object& o = v.as_object();
    const auto& [kind, val] = *o.begin();
    if (kind == "ContentType") {
      content_type(v, raw, where);
    } else if (kind == "DateTime") {
      auto d = parse_date(raw);
      if (!d || !date_equal(val.as_object(), *d)) {
        fail(where, "date differs: " + json::serialize(val) + " vs " +
                        (d ? d->to_rfc3339() : std::string("none")));
      }
    } else if (kind == "TextList") {
      std::vector<std::string> want;
      for (const auto& x : val.as_array()) want.push_back(str(x));
      if (parse_message_ids(raw) != want) fail(where, "id list differs");
    } else if (kind == "Text") {
      std::string want = unfolded(str(val));
      std::string got;
      if (name == "message_id" || name == "content_id" || name == "in_reply_to" ||
          name == "return_path" || name == "resent_message_id") {
        auto ids = parse_message_ids(raw);
        got = ids.empty() ? std::string() : ids.front();
      } else if (name.starts_with("other:") || name == "dkim_signature") {
        got = unfolded(raw);  // mail-parser keeps unknown fields raw
      } else {
        got = unfolded(decode_unstructured(raw));
      }
      if (got != want) fail(where, name + ": expected \"" + want + "\", got \"" + got + "\"");
    } else if (kind == "Address") {
      address(name, val.as_object(), raw, where);
    } else if (kind == "Received") {
      received(val.as_object(), raw, where);
    }
  }

  void address(const std::string& name, const json::object& e, std::string_view raw,
               const std::string& where) {
    AddressList got = parse_address_list(raw);
    auto same = [](const json::array& want, const std::vector<Address>& have) {
      if (want.size() != have.size()) return false;
      for (size_t i = 0; i < want.size(); ++i) {
        if (opt_str(want[i].at("name")) != have[i].name ||
            opt_str(want[i].at("address")) != have[i].address) {
          return false;
        }
      }
      return true;
    };
    auto render = [](const std::vector<Address>& v) {
      std::string s;
      for (const auto& a : v) s += "(" + show(a.name) + " " + show(a.address) + ")";
      return s;
    };
    if (auto* l = e.if_contains("List")) {
      if (!same(l->as_array(), got.flatten())) {
        fail(where, name + ": expected " + json::serialize(*l) + ", got " + render(got.flatten()));
      }
    } else if (auto* g = e.if_contains("Group")) {
      const json::array& groups = g->as_array();
      bool ok = groups.size() == got.groups.size();
      for (size_t i = 0; ok && i < groups.size(); ++i) {
        ok = opt_str(groups[i].at("name")) == got.groups[i].name &&
             same(groups[i].at("addresses").as_array(), got.groups[i].addresses);
      }
      if (!ok) fail(where, name + ": groups differ: expected " + json::serialize(*g));
    }
  }

  void received(const json::object& e, std::string_view raw, const std::string& where) {
    auto r = parse_received(raw);
    if (!r) {
      fail(where, "received: not parsed");
      return;
    }
    auto host = [](const json::value& v) -> std::optional<std::string> {
      if (v.is_null()) return std::nullopt;
      return trim(str(v.as_object().begin()->value()));
    };
    auto hv = [](const std::optional<ReceivedHost>& h) -> std::optional<std::string> {
      if (!h) return std::nullopt;
      return trim(h->value);
    };
    auto t = [](const json::value& v) -> std::optional<std::string> {
      if (v.is_null()) return std::nullopt;
      return trim(str(v));
    };
    auto to = [](const std::optional<std::string>& s) -> std::optional<std::string> {
      if (!s) return s;
      return trim(*s);
    };
    static const json::value kNull;
    auto get = [&](const char* k) -> const json::value& {
      const json::value* v = e.if_contains(k);
      return v ? *v : kNull;
    };
    std::string diff;
    if (host(get("from")) != hv(r->from)) diff += " from";
    if (host(get("by")) != hv(r->by)) diff += " by";
    if (t(get("for_")) != to(r->for_)) diff += " for";
    if (t(get("with")) != to(r->with)) diff += " with";
    if (t(get("id")) != to(r->id)) diff += " id";
    if (t(get("from_ip")) != to(r->from_ip)) diff += " from_ip";
    if (get("date").is_object() != r->date.has_value() ||
        (r->date && !date_equal(get("date").as_object(), *r->date))) {
      diff += " date";
    }
    if (!diff.empty()) fail(where, "received differs in" + diff);
  }

  void part(const json::object& e, uint32_t idx, std::map<uint32_t, size_t>& local,
            const std::string& where) {
    const Part& p = m_.part(idx);
    // Header fields, in order.
    const json::array& eh = e.at("headers").as_array();
    auto ours = m_.headers(p);
    if (eh.size() != ours.size()) {
      fail(where, "header count: expected " + std::to_string(eh.size()) + ", got " +
                      std::to_string(ours.size()));
    } else {
      for (size_t i = 0; i < eh.size(); ++i) {
        std::string want = expected_name(eh[i].at("name"));
        std::string got = our_name(m_.field_name(p, ours[i]));
        if (want != got) {
          fail(where, "header " + std::to_string(i) + " name: expected " + want + ", got " + got);
          continue;
        }
        try {
          header_value(want, eh[i].at("value"), m_.field_value(p, ours[i]), where + " " + want);
        } catch (const std::exception& ex) {
          fail(where + " " + want, std::string("unexpected expected-value shape: ") + ex.what());
        }
      }
    }
    // Body.
    const json::value& body = e.at("body");
    std::string kind = body.is_object() && !body.get_object().empty()
                           ? std::string(body.get_object().begin()->key())
                           : std::string();
    const json::value& content = body.get_object().begin()->value();
    if (kind == "Multipart") {
      if (p.kind != PartKind::kMultipart) {
        fail(where, "expected a multipart");
        return;
      }
      std::vector<size_t> want, have;
      for (const auto& x : content.as_array()) want.push_back(static_cast<size_t>(x.to_number<int64_t>()));
      for (uint32_t c : p.children) have.push_back(local.count(c) ? local[c] : 9999);
      if (want != have) fail(where, "children differ");
    } else if (kind == "Message") {
      if (p.kind != PartKind::kMessage) {
        fail(where, "expected an encapsulated message");
        return;
      }
      message(content.as_object(), p.nested, where + ">");
    } else if (kind == "Html" || kind == "Text") {
      // mail-parser shows a part whose delimiter never came, or whose encoding is
      // broken, as plain Text whatever its type; Postern keeps the declared type.
      bool broken = p.bad_encoding || p.missing_delimiter;
      bool kind_ok = kind == "Html" ? p.kind == PartKind::kHtml
                                    : (p.kind == PartKind::kText || (p.is_leaf() && broken));
      if (!kind_ok) fail(where, "expected a " + kind + " part");
      std::string want = str(content);
      std::string got = m_.text(p);
      if (want != got) {
        fail(where, "text differs: expected " + json::serialize(content) + " got " +
                        json::serialize(json::string(got)));
      }
    } else if (kind == "Binary" || kind == "InlineBinary") {
      if (!p.is_leaf()) fail(where, "expected a leaf part");
      std::string want;
      for (const auto& x : content.as_array()) want += static_cast<char>(x.to_number<int>());
      std::string got = m_.decoded_body(p);
      if (want != got) {
        fail(where, "bytes differ: expected " + std::to_string(want.size()) + " bytes, got " +
                        std::to_string(got.size()));
      }
    } else {
      fail(where, "unknown body kind " + kind);
    }
  }

  const Message& m_;
};

struct Case {
  std::string name;  // "rfc/000"
  fs::path eml;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  fs::path base = fs::path(POSTERN_TESTDATA) / "stalwart-mail-parser" / "eml";
  for (const char* suite : {"rfc", "malformed", "thirdparty"}) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(base / suite)) {
      if (entry.path().extension() == ".eml") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      out.push_back({std::string(suite) + "/" + f.stem().string(), f});
    }
  }
  return out;
}

// Cases that differ for the reasons given at the top.
const std::set<std::string> kKnown = {"thirdparty/015", "rfc/002", "thirdparty/005"};

std::vector<std::string> run_case(const std::string& bytes, const fs::path& expected_path) {
  auto msg = Message::parse(bytes);
  if (!msg) return {"parse failed: " + msg.error().message()};
  json::value expected = json::parse(read_bytes(expected_path));
  Comparer c(*msg);
  try {
    c.message(expected.as_object(), 0, "");
  } catch (const std::exception& e) {
    c.errors.push_back(std::string("comparison failed: ") + e.what());
  }
  return c.errors;
}

void run_variant(bool crlf) {
  auto all = cases();
  ASSERT_EQ(all.size(), 53u) << "conformance corpus not found under " << POSTERN_TESTDATA;
  int passed = 0;
  std::vector<std::string> unexplained;
  for (const auto& c : all) {
    std::string raw = read_bytes(c.eml);
    std::string input = crlf ? add_cr(raw) : strip_cr(raw);
    fs::path expected = c.eml;
    expected.replace_extension(crlf ? ".crlf.json" : ".json");
    auto errors = run_case(input, expected);
    if (errors.empty()) {
      ++passed;
      continue;
    }
    if (!kKnown.count(c.name)) unexplained.push_back(c.name);
    std::printf("  %s %s%s:\n", crlf ? "CRLF" : "LF", c.name.c_str(),
                kKnown.count(c.name) ? " (known difference)" : "");
    for (size_t i = 0; i < errors.size() && i < 8; ++i) {
      std::printf("    %s\n", errors[i].c_str());
    }
  }
  std::printf("conformance %s: %d/%zu\n", crlf ? "CRLF" : "LF", passed, all.size());
  EXPECT_GE(passed, 50);
  // Every mismatch must be one explained at the top of this file.
  EXPECT_TRUE(unexplained.empty()) << "unexplained mismatch: " << unexplained.front();
}

TEST(MailConformance, LfVariant) { run_variant(false); }
TEST(MailConformance, CrlfVariant) { run_variant(true); }

}  // namespace
}  // namespace postern::mail
