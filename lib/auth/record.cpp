#include "auth/record.h"

#include <boost/json.hpp>

namespace postern::auth {

namespace json = boost::json;

namespace {

json::array strings(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

// Readers that never throw: a member of the wrong type reads as absent.
std::string str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

int64_t integer(const json::object& o, std::string_view key, int64_t fallback) {
  const json::value* v = o.if_contains(key);
  if (!v) return fallback;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  return fallback;
}

bool boolean(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_bool() && v->get_bool();
}

const json::object* object(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

const json::array* array(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_array() ? &v->get_array() : nullptr;
}

}  // namespace

json::object record_to_object(const Record& r) {
  json::array dkim;
  for (const auto& d : r.dkim) {
    dkim.push_back(json::object{{"domain", d.domain},
                                {"selector", d.selector},
                                {"result", d.result},
                                {"human_result", d.human_result}});
  }
  json::array reasons;
  for (const auto& x : r.reasons) {
    reasons.push_back(json::object{{"type", x.type}, {"comment", x.comment}});
  }
  json::value policy = nullptr;
  if (r.policy) {
    const RecordPolicy& p = *r.policy;
    policy = json::object{{"domain", p.domain}, {"p", p.p},         {"sp", p.sp},
                          {"np", p.np},         {"pct", p.pct},     {"adkim", p.adkim},
                          {"aspf", p.aspf},     {"fo", p.fo},       {"ri", p.ri},
                          {"rua", strings(p.rua)}};
  }
  json::object doc{
      {"v", r.version},
      {"time", r.time},
      {"reporter", r.reporter},
      {"source_ip", r.source_ip},
      {"helo", r.helo},
      {"envelope_from", r.envelope_from},
      {"envelope_to", r.envelope_to},
      {"header_from", r.header_from},
      {"spf", json::object{{"result", r.spf_result}, {"domain", r.spf_domain}, {"scope", r.spf_scope}}},
      {"dkim", std::move(dkim)},
      {"arc", r.arc},
      {"dmarc", json::object{{"result", r.dmarc_result},
                             {"disposition", r.disposition},
                             {"dkim_aligned", r.dkim_aligned},
                             {"spf_aligned", r.spf_aligned},
                             {"reasons", std::move(reasons)},
                             {"record_domain", r.policy ? r.policy->domain : ""},
                             {"policy", std::move(policy)}}}};
  return doc;
}

std::string record_to_json(const Record& r) { return json::serialize(record_to_object(r)) + "\n"; }

base::Result<Record> record_from_json(std::string_view line) {
  json::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec) return base::Error::bad_data("not a JSON record: " + ec.message());
  if (!v.is_object()) return base::Error::bad_data("not a JSON record: expected an object");
  const json::object& o = v.get_object();
  Record r;
  r.version = static_cast<int>(integer(o, "v", 0));
  if (r.version < 1) return base::Error::bad_data("record has no version (\"v\")");
  if (r.version > kRecordVersion) {
    return base::Error::bad_data("record version " + std::to_string(r.version) +
                             " is newer than this program reads (" +
                             std::to_string(kRecordVersion) + ")");
  }
  if (!o.contains("time")) return base::Error::bad_data("record has no \"time\"");
  r.time = integer(o, "time", 0);
  r.source_ip = str(o, "source_ip");
  if (r.source_ip.empty()) return base::Error::bad_data("record has no \"source_ip\"");
  const json::object* dmarc = object(o, "dmarc");
  if (!dmarc) return base::Error::bad_data("record has no \"dmarc\" object");
  r.reporter = str(o, "reporter");
  r.helo = str(o, "helo");
  r.envelope_from = str(o, "envelope_from");
  r.envelope_to = str(o, "envelope_to");
  r.header_from = str(o, "header_from");
  if (const json::object* spf = object(o, "spf")) {
    r.spf_result = str(*spf, "result");
    r.spf_domain = str(*spf, "domain");
    r.spf_scope = str(*spf, "scope");
    if (r.spf_scope.empty()) r.spf_scope = "mfrom";
  }
  if (const json::array* dkim = array(o, "dkim")) {
    for (const auto& d : *dkim) {
      if (!d.is_object()) continue;
      const json::object& x = d.get_object();
      r.dkim.push_back({str(x, "domain"), str(x, "selector"), str(x, "result"),
                        str(x, "human_result")});
    }
  }
  r.arc = str(o, "arc");
  if (r.arc.empty()) r.arc = "none";
  r.dmarc_result = str(*dmarc, "result");
  r.disposition = str(*dmarc, "disposition");
  if (r.disposition.empty()) r.disposition = "none";
  r.dkim_aligned = boolean(*dmarc, "dkim_aligned");
  r.spf_aligned = boolean(*dmarc, "spf_aligned");
  if (const json::array* reasons = array(*dmarc, "reasons")) {
    for (const auto& x : *reasons) {
      if (x.is_object()) r.reasons.push_back({str(x.get_object(), "type"), str(x.get_object(), "comment")});
    }
  }
  if (const json::object* p = object(*dmarc, "policy")) {
    RecordPolicy pol;
    pol.domain = str(*p, "domain");
    pol.p = str(*p, "p");
    pol.sp = str(*p, "sp");
    pol.np = str(*p, "np");
    pol.pct = static_cast<int>(integer(*p, "pct", 100));
    pol.adkim = str(*p, "adkim");
    if (pol.adkim.empty()) pol.adkim = "r";
    pol.aspf = str(*p, "aspf");
    if (pol.aspf.empty()) pol.aspf = "r";
    pol.fo = str(*p, "fo");
    if (pol.fo.empty()) pol.fo = "0";
    pol.ri = static_cast<uint32_t>(integer(*p, "ri", 86400));
    if (const json::array* rua = array(*p, "rua")) {
      for (const auto& u : *rua) {
        if (u.is_string()) pol.rua.emplace_back(u.get_string());
      }
    }
    r.policy = std::move(pol);
  }
  return r;
}

}  // namespace postern::auth
