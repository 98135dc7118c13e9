// SMTP TLS Reporting (RFC 8460): TXT record, result records, aggregate report and mail.
#include "smtp/tls_rpt.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <tuple>

#include "base/clock.h"
#include "mail/writer.h"

namespace postern::smtp::tls_rpt {

namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_wsp(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_wsp(std::string_view s) {
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

bool is_ext_name(std::string_view s) {
  if (s.empty() || s.size() > 32 || !is_alnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alnum(c) || c == '_' || c == '-' || c == '.'; });
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// "2026-03-01T00:00:00Z"
std::string rfc3339_seconds(int64_t t) {
  std::string s = base::utc_datetime(t);
  std::replace(s.begin(), s.end(), ' ', 'T');
  return s + "Z";
}

}  // namespace

std::vector<std::string> TxtRecord::mailto() const {
  std::vector<std::string> out;
  for (const auto& u : rua) {
    if (!starts_with_ci(u, "mailto:")) continue;
    std::string_view addr = std::string_view(u).substr(7);
    addr = addr.substr(0, addr.find('?'));  // hfields (RFC 6068) are not used
    out.push_back(percent_decode(addr));
  }
  return out;
}

std::vector<std::string> TxtRecord::https() const {
  std::vector<std::string> out;
  for (const auto& u : rua) {
    if (starts_with_ci(u, "https:")) out.push_back(u);
  }
  return out;
}

// RFC 8460 3:
//   tlsrpt-record = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]
//   field-delim = *WSP ";" *WSP;  tlsrpt-version = %s"v=TLSRPTv1"
//   tlsrpt-rua = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
//   tlsrpt-extension = tlsrpt-ext-name "=" tlsrpt-ext-value
base::Result<TxtRecord> parse_txt(std::string_view text) {
  constexpr std::string_view kVersion = "v=TLSRPTv1";
  if (text.substr(0, kVersion.size()) != kVersion) {
    return base::Error::bad_data("TLS-RPT record does not start with v=TLSRPTv1");
  }
  std::string_view rest = text.substr(kVersion.size());
  rest = trim_wsp(rest);
  if (rest.empty() || rest.front() != ';')
    return base::Error::bad_data("TLS-RPT record: expected ';' after the version");
  TxtRecord rec;
  bool have_rua = false;
  size_t pos = 1;
  while (pos <= rest.size()) {
    size_t semi = rest.find(';', pos);
    std::string_view field =
        trim_wsp(rest.substr(pos, semi == std::string_view::npos ? rest.npos : semi - pos));
    pos = semi == std::string_view::npos ? rest.size() + 1 : semi + 1;
    if (field.empty()) {
      if (semi == std::string_view::npos) break;  // the optional final ";"
      return base::Error::bad_data("TLS-RPT record: empty field");
    }
    size_t eq = field.find('=');
    if (eq == std::string_view::npos)
      return base::Error::bad_data("TLS-RPT record: field without '='");
    std::string_view name = field.substr(0, eq), value = field.substr(eq + 1);
    if (name == "rua") {
      if (have_rua) return base::Error::bad_data("TLS-RPT record: more than one rua");
      have_rua = true;
      size_t p = 0;
      while (p <= value.size()) {
        size_t comma = value.find(',', p);
        std::string_view uri =
            trim_wsp(value.substr(p, comma == std::string_view::npos ? value.npos : comma - p));
        p = comma == std::string_view::npos ? value.size() + 1 : comma + 1;
        if (uri.empty()) return base::Error::bad_data("TLS-RPT record: empty rua URI");
        if (std::any_of(uri.begin(), uri.end(), [](char c) {
              auto u = static_cast<unsigned char>(c);
              return u <= 0x20 || u >= 0x7f;
            })) {
          return base::Error::bad_data("TLS-RPT record: bad rua URI");
        }
        if (starts_with_ci(uri, "mailto:") && uri.size() > 7 && uri.find('@') != uri.npos) {
          rec.rua.emplace_back(uri);
        } else if (starts_with_ci(uri, "https://") && uri.size() > 8) {
          rec.rua.emplace_back(uri);
        }
        // Other schemes: not defined for TLS-RPT, skipped.
      }
    } else {
      if (!is_ext_name(name) || value.empty() ||
          !std::all_of(value.begin(), value.end(), [](char c) {
            auto u = static_cast<unsigned char>(c);
            return u >= 0x21 && u <= 0x7e && c != '=' && c != ';';
          })) {
        return base::Error::bad_data("TLS-RPT record: bad field " + std::string(field));
      }
    }
  }
  if (!have_rua) return base::Error::bad_data("TLS-RPT record without rua");
  if (rec.rua.empty()) return base::Error::bad_data("TLS-RPT record: no mailto: or https: rua URI");
  return rec;
}

base::Result<TxtRecord> select_txt(const std::vector<std::string>& texts) {
  const std::string* found = nullptr;
  for (const auto& t : texts) {
    if (t.rfind("v=TLSRPTv1", 0) != 0) continue;
    if (found) return base::Error::bad_data("more than one TLS-RPT record");
    found = &t;
  }
  if (!found) return base::Error::bad_data("no TLS-RPT record");
  return parse_txt(*found);
}

std::string_view policy_type_name(PolicyType t) {
  switch (t) {
    case PolicyType::kSts:
      return "sts";
    case PolicyType::kTlsa:
      return "tlsa";
    case PolicyType::kNoPolicyFound:
      return "no-policy-found";
  }
  return "no-policy-found";
}

std::string_view result_type_name(ResultType t) {
  switch (t) {
    case ResultType::kSuccess:
      return "success";
    case ResultType::kStarttlsNotSupported:
      return "starttls-not-supported";
    case ResultType::kCertificateHostMismatch:
      return "certificate-host-mismatch";
    case ResultType::kCertificateExpired:
      return "certificate-expired";
    case ResultType::kCertificateNotTrusted:
      return "certificate-not-trusted";
    case ResultType::kValidationFailure:
      return "validation-failure";
    case ResultType::kTlsaInvalid:
      return "tlsa-invalid";
    case ResultType::kDnssecInvalid:
      return "dnssec-invalid";
    case ResultType::kDaneRequired:
      return "dane-required";
    case ResultType::kStsPolicyFetchError:
      return "sts-policy-fetch-error";
    case ResultType::kStsPolicyInvalid:
      return "sts-policy-invalid";
    case ResultType::kStsWebpkiInvalid:
      return "sts-webpki-invalid";
  }
  return "validation-failure";
}

Report aggregate(const ReportInfo& info, std::string_view policy_domain,
                 const std::vector<ResultRecord>& records) {
  Report rep;
  rep.info = info;
  rep.policy_domain = std::string(policy_domain);
  auto key = [](const FailureDetail& f) {
    return std::tie(f.result, f.sending_mta_ip, f.receiving_mx_hostname, f.receiving_mx_helo,
                    f.receiving_ip, f.additional_information, f.failure_reason_code);
  };
  for (const ResultRecord& r : records) {
    if (r.policy_domain != policy_domain || r.time < info.start || r.time >= info.end) continue;
    auto pol = std::find_if(rep.policies.begin(), rep.policies.end(), [&](const PolicyReport& p) {
      return p.type == r.policy_type && p.strings == r.policy_strings && p.mx_host == r.mx_host;
    });
    if (pol == rep.policies.end()) {
      PolicyReport p;
      p.type = r.policy_type;
      p.domain = r.policy_domain;
      p.strings = r.policy_strings;
      p.mx_host = r.mx_host;
      rep.policies.push_back(std::move(p));
      pol = rep.policies.end() - 1;
    }
    if (r.result == ResultType::kSuccess) {
      pol->successful += r.sessions;
      continue;
    }
    pol->failed += r.sessions;
    FailureDetail f{
        r.result,       r.sending_mta_ip,         r.receiving_mx_hostname, r.receiving_mx_helo,
        r.receiving_ip, r.additional_information, r.failure_reason_code,   r.sessions};
    auto same = std::find_if(pol->failure_details.begin(), pol->failure_details.end(),
                             [&](const FailureDetail& d) { return key(d) == key(f); });
    if (same != pol->failure_details.end()) {
      same->failed_session_count += r.sessions;
    } else {
      pol->failure_details.push_back(std::move(f));
    }
  }
  return rep;
}

std::string to_json(const Report& rep) {
  namespace json = boost::json;
  json::object root;
  root["organization-name"] = rep.info.organization_name;
  json::object range;
  range["start-datetime"] = rfc3339_seconds(rep.info.start);
  range["end-datetime"] =
      rfc3339_seconds(rep.info.end > rep.info.start ? rep.info.end - 1 : rep.info.end);
  root["date-range"] = std::move(range);
  root["contact-info"] = rep.info.contact_info;
  root["report-id"] = rep.info.report_id;
  json::array policies;
  for (const PolicyReport& p : rep.policies) {
    json::object policy;
    policy["policy-type"] = policy_type_name(p.type);
    if (!p.strings.empty()) {
      json::array strings;
      for (const auto& s : p.strings) strings.emplace_back(s);
      policy["policy-string"] = std::move(strings);
    }
    policy["policy-domain"] = p.domain;
    if (!p.mx_host.empty()) {
      json::array hosts;
      for (const auto& h : p.mx_host) hosts.emplace_back(h);
      policy["mx-host"] = std::move(hosts);
    }
    json::object summary;
    summary["total-successful-session-count"] = p.successful;
    summary["total-failure-session-count"] = p.failed;
    json::object entry;
    entry["policy"] = std::move(policy);
    entry["summary"] = std::move(summary);
    if (!p.failure_details.empty()) {
      json::array details;
      for (const FailureDetail& f : p.failure_details) {
        json::object d;
        d["result-type"] = result_type_name(f.result);
        auto opt = [&](const char* k, const std::string& v) {
          if (!v.empty()) d[k] = v;
        };
        opt("sending-mta-ip", f.sending_mta_ip);
        opt("receiving-mx-hostname", f.receiving_mx_hostname);
        opt("receiving-mx-helo", f.receiving_mx_helo);
        opt("receiving-ip", f.receiving_ip);
        d["failed-session-count"] = f.failed_session_count;
        opt("additional-information", f.additional_information);
        opt("failure-reason-code", f.failure_reason_code);
        details.emplace_back(std::move(d));
      }
      entry["failure-details"] = std::move(details);
    }
    policies.emplace_back(std::move(entry));
  }
  root["policies"] = std::move(policies);
  return json::serialize(root);
}

namespace {

// Keeps a file name component free of "!" and path separators.
std::string safe_component(std::string_view s) {
  std::string out;
  for (char c : s)
    out += (c == '!' || c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x21) ? '_' : c;
  return out;
}

// A Message-ID left part: letters, digits and "-._" kept, anything else "_".
std::string msgid_safe(std::string_view s) {
  std::string out;
  for (char c : s) out += (is_alnum(c) || c == '-' || c == '.' || c == '_') ? c : '_';
  return out;
}

}  // namespace

std::string filename(const Report& rep, std::string_view unique_id) {
  std::string name = safe_component(rep.info.submitter) + "!" + safe_component(rep.policy_domain) +
                     "!" + std::to_string(rep.info.start) + "!" + std::to_string(rep.info.end);
  if (!unique_id.empty()) name += "!" + safe_component(unique_id);
  return name + ".json.gz";
}

std::string report_message(const Report& rep, std::string_view gz, std::string_view from,
                           const std::vector<std::string>& to, int64_t now) {
  std::string to_list;
  for (const auto& a : to) to_list += (to_list.empty() ? "" : ", ") + a;
  const ReportInfo& in = rep.info;
  // RFC 8460 5.3: the recommended Subject.
  std::string subject = "Report Domain: " + rep.policy_domain + " Submitter: " + in.submitter +
                        " Report-ID: <" + in.report_id + ">";
  int64_t ok = 0, failed = 0;
  for (const auto& p : rep.policies) {
    ok += p.successful;
    failed += p.failed;
  }
  std::string text = "This is an aggregate TLS report (RFC 8460) from " + in.organization_name +
                     ".\n\nReport domain: " + rep.policy_domain +
                     "\nSubmitter:     " + in.submitter + "\nReport ID:     " + in.report_id +
                     "\nPeriod:        " + rfc3339_seconds(in.start) + " to " +
                     rfc3339_seconds(in.end) + "\nSessions:      " + std::to_string(ok) +
                     " successful, " + std::to_string(failed) + " failed\n";
  mail::MimeBuilder mb("report; report-type=\"tlsrpt\"");
  mb.header("From", from)
      .header("To", to_list)
      .header("Subject", mail::encode_header_value(subject, 7))
      .header("Date", mail::format_date(now, 0))
      .header("Message-ID",
              "<" + msgid_safe(in.report_id) + "." + std::to_string(now) + "@" + in.submitter + ">")
      .header("TLS-Report-Domain", rep.policy_domain)
      .header("TLS-Report-Submitter", in.submitter)
      .header("Auto-Submitted", "auto-generated")
      .text(text)
      .attachment(gz, "application/tlsrpt+gzip", filename(rep));
  return mb.build();
}

}  // namespace postern::smtp::tls_rpt
