#include "mail/message_json.h"

#include <boost/json.hpp>

#include "mail/charset.h"
#include "mail/header.h"

namespace postern::mail {
namespace json = boost::json;
namespace {

// Boost.JSON requires valid UTF-8 only on output; we guarantee it here.
json::string js(std::string_view s) { return json::string(sanitize_utf8(s)); }

json::value opt(const std::optional<std::string>& s) {
  if (!s) return nullptr;
  return js(*s);
}

json::object address_json(const Address& a) {
  json::object o;
  o["name"] = opt(a.name);
  o["address"] = opt(a.address);
  return o;
}

std::string format_address(const Address& a) {
  std::string out;
  if (a.name && !a.name->empty()) {
    out = *a.name;
    if (a.address) out += " <" + *a.address + ">";
  } else if (a.address) {
    out = *a.address;
  }
  return out;
}

json::object content_type_json(const ContentType& ct) {
  json::object o;
  o["type"] = js(ct.type);
  o["subtype"] = opt(ct.subtype);
  json::object params;
  for (const auto& [k, v] : ct.params) params[js(k)] = js(v);
  o["params"] = std::move(params);
  return o;
}

std::string mime_type(const ContentType& ct) {
  return ct.type + "/" + ct.subtype.value_or("");
}

json::value received_json(const Received& r) {
  json::object o;
  auto host = [](const std::optional<ReceivedHost>& h) -> json::value {
    if (!h) return nullptr;
    return js(h->value);
  };
  o["from"] = host(r.from);
  o["by"] = host(r.by);
  o["helo"] = host(r.helo);
  o["from_ip"] = opt(r.from_ip);
  o["with"] = opt(r.with);
  o["id"] = opt(r.id);
  o["for"] = opt(r.for_);
  o["tls_version"] = opt(r.tls_version);
  o["tls_cipher"] = opt(r.tls_cipher);
  o["date"] = r.date ? json::value(js(r.date->to_rfc3339())) : json::value(nullptr);
  return o;
}

json::object header_json(std::string_view name, std::string_view raw) {
  json::object o;
  o["name"] = js(name);
  o["value"] = js(decoded_header_value(name, raw));
  switch (header_type(name)) {
    case HeaderType::kAddresses: {
      AddressList list = parse_address_list(raw);
      if (list.is_group()) {
        json::array groups;
        for (const auto& g : list.groups) {
          json::object go;
          go["name"] = opt(g.name);
          json::array as;
          for (const auto& a : g.addresses) as.push_back(address_json(a));
          go["addresses"] = std::move(as);
          groups.push_back(std::move(go));
        }
        o["groups"] = std::move(groups);
      }
      json::array as;
      for (const auto& a : list.flatten()) as.push_back(address_json(a));
      o["addresses"] = std::move(as);
      break;
    }
    case HeaderType::kDate: {
      auto d = parse_date(raw);
      o["date"] = d ? json::value(js(d->to_rfc3339())) : json::value(nullptr);
      if (d) o["unix"] = d->to_unix();
      break;
    }
    case HeaderType::kMessageIds: {
      json::array ids;
      for (const auto& id : parse_message_ids(raw)) ids.push_back(js(id));
      o["ids"] = std::move(ids);
      break;
    }
    case HeaderType::kContentType:
      o["content_type"] = content_type_json(parse_content_type(raw));
      break;
    case HeaderType::kList: {
      json::array items;
      for (const auto& s : parse_comma_list(raw)) items.push_back(js(s));
      o["list"] = std::move(items);
      break;
    }
    case HeaderType::kReceived:
      if (auto r = parse_received(raw)) o["received"] = received_json(*r);
      break;
    case HeaderType::kText: break;
  }
  return o;
}

const char* kind_name(PartKind k) {
  switch (k) {
    case PartKind::kText: return "text";
    case PartKind::kHtml: return "html";
    case PartKind::kBinary: return "binary";
    case PartKind::kMultipart: return "multipart";
    case PartKind::kMessage: return "message";
  }
  return "binary";
}

const char* encoding_name(Encoding e) {
  switch (e) {
    case Encoding::kBase64: return "base64";
    case Encoding::kQuotedPrintable: return "quoted-printable";
    case Encoding::kIdentity: break;
  }
  return "identity";
}

json::array headers_json(const Message& m, const Part& p) {
  json::array out;
  for (const HeaderField& f : m.headers(p)) {
    out.push_back(header_json(m.field_name(p, f), m.field_value(p, f)));
  }
  return out;
}

json::array id_list(const Message& m, const std::vector<uint32_t>& list) {
  json::array a;
  for (uint32_t i : list) a.push_back(js(m.part(i).id));
  return a;
}

json::object part_json(const Message& m, const Part& p, bool with_headers) {
  json::object o;
  o["id"] = js(p.id);
  o["kind"] = kind_name(p.kind);
  o["content_type"] = js(mime_type(p.content_type));
  json::object params;
  for (const auto& [k, v] : p.content_type.params) params[js(k)] = js(v);
  o["params"] = std::move(params);
  const std::string* cs = p.content_type.param("charset");
  o["charset"] = cs ? json::value(js(*cs)) : json::value(nullptr);
  o["disposition"] = p.disposition && !p.disposition->type.empty()
                         ? json::value(js(p.disposition->type))
                         : json::value(nullptr);
  std::string fname = m.filename(p);
  o["filename"] = fname.empty() ? json::value(nullptr) : json::value(js(fname));
  o["encoding"] = encoding_name(p.encoding);
  if (p.is_leaf() || p.kind == PartKind::kMessage) {
    o["size"] = m.decoded_size(p);
  }
  json::object off;
  off["header"] = p.offset_header;
  off["body"] = p.offset_body;
  off["end"] = p.offset_end;
  o["offsets"] = std::move(off);
  if (p.source != 0) o["in_decoded_source"] = true;
  if (p.missing_delimiter) o["missing_delimiter"] = true;
  if (p.bad_encoding) o["bad_encoding"] = true;
  if (p.depth_limited) o["depth_limited"] = true;
  if (with_headers) o["headers"] = headers_json(m, p);
  if (p.kind == PartKind::kMultipart) {
    json::array children;
    for (uint32_t c : p.children) children.push_back(part_json(m, m.part(c), true));
    o["parts"] = std::move(children);
  } else if (p.kind == PartKind::kMessage && !p.children.empty()) {
    const MessageNode& node = m.messages()[p.nested];
    json::object nested;
    const Part& root = m.part(node.root);
    nested["headers"] = headers_json(m, root);
    nested["body"] = part_json(m, root, false);
    nested["text_body"] = id_list(m, node.text_body);
    nested["html_body"] = id_list(m, node.html_body);
    nested["attachments"] = id_list(m, node.attachments);
    o["message"] = std::move(nested);
  }
  return o;
}

void pretty_print(std::string& out, const json::value& v, int indent) {
  auto pad = [&](int n) { out.append(static_cast<size_t>(n) * 2, ' '); };
  if (v.is_object()) {
    const auto& o = v.get_object();
    if (o.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    size_t i = 0;
    for (const auto& kv : o) {
      pad(indent + 1);
      out += json::serialize(json::string(kv.key()));
      out += ": ";
      pretty_print(out, kv.value(), indent + 1);
      out += ++i < o.size() ? ",\n" : "\n";
    }
    pad(indent);
    out += "}";
  } else if (v.is_array()) {
    const auto& a = v.get_array();
    if (a.empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    for (size_t i = 0; i < a.size(); ++i) {
      pad(indent + 1);
      pretty_print(out, a[i], indent + 1);
      out += i + 1 < a.size() ? ",\n" : "\n";
    }
    pad(indent);
    out += "]";
  } else {
    out += json::serialize(v);
  }
}

}  // namespace

HeaderType header_type(std::string_view n) {
  static constexpr std::string_view kAddr[] = {
      "from", "to", "cc", "bcc", "reply-to", "sender", "resent-from", "resent-to",
      "resent-cc", "resent-bcc", "resent-sender", "disposition-notification-to"};
  for (auto a : kAddr) {
    if (iequals(n, a)) return HeaderType::kAddresses;
  }
  if (iequals(n, "date") || iequals(n, "resent-date")) return HeaderType::kDate;
  if (iequals(n, "message-id") || iequals(n, "in-reply-to") || iequals(n, "references") ||
      iequals(n, "content-id") || iequals(n, "resent-message-id")) {
    return HeaderType::kMessageIds;
  }
  if (iequals(n, "content-type") || iequals(n, "content-disposition")) return HeaderType::kContentType;
  if (iequals(n, "keywords") || iequals(n, "content-language")) return HeaderType::kList;
  if (iequals(n, "received")) return HeaderType::kReceived;
  return HeaderType::kText;
}

std::string decoded_header_value(std::string_view name, std::string_view raw) {
  switch (header_type(name)) {
    case HeaderType::kAddresses: {
      std::string out;
      for (const auto& a : parse_address_list(raw).flatten()) {
        std::string s = format_address(a);
        if (s.empty()) continue;
        if (!out.empty()) out += ", ";
        out += s;
      }
      return out.empty() ? decode_unstructured(raw) : out;
    }
    case HeaderType::kDate:
      if (auto d = parse_date(raw)) return d->to_rfc3339();
      return decode_unstructured(raw);
    case HeaderType::kMessageIds: {
      std::string out;
      for (const auto& id : parse_message_ids(raw)) {
        if (!out.empty()) out += ' ';
        out += "<" + id + ">";
      }
      return out.empty() ? decode_unstructured(raw) : out;
    }
    case HeaderType::kContentType: return unfold(raw);
    default: return decode_unstructured(raw);
  }
}

std::string json_quote(std::string_view s) { return json::serialize(js(s)); }

std::string message_json(const Message& m, const JsonOptions& options) {
  json::object o;
  if (!options.file.empty()) o["file"] = js(options.file);
  const Part& root = m.root();
  o["headers"] = headers_json(m, root);
  o["body"] = part_json(m, root, false);
  o["text_body"] = id_list(m, m.text_body());
  o["html_body"] = id_list(m, m.html_body());
  o["attachments"] = id_list(m, m.attachments());
  json::value v(std::move(o));
  if (!options.pretty) return json::serialize(v);
  std::string out;
  pretty_print(out, v, 0);
  return out;
}

}  // namespace postern::mail
