// Sending TLS-RPT aggregate reports (tls_report.h; RFC 8460 3, 5).
#include "smtp/tls_report.h"

#include <algorithm>
#include <tuple>

#include <boost/json.hpp>

#include "base/clock.h"
#include "base/compress.h"
#include "base/log.h"
#include "base/task.h"
#include "dns/http_client.h"
#include "store/queue.h"

namespace postern::smtp::tls_report {

namespace tr = store::tls_results;
namespace q = store::queue;

namespace {

std::string rfc3339(int64_t t) {
  std::string s = base::utc_datetime(t);
  std::replace(s.begin(), s.end(), ' ', 'T');
  return s + "Z";
}

std::string date_of(int64_t day) { return rfc3339(day).substr(0, 10); }

tls_rpt::PolicyType policy_type_of(std::string_view s) {
  for (auto t : {tls_rpt::PolicyType::kSts, tls_rpt::PolicyType::kTlsa}) {
    if (tls_rpt::policy_type_name(t) == s) return t;
  }
  return tls_rpt::PolicyType::kNoPolicyFound;
}

tls_rpt::ResultType result_type_of(std::string_view s) {
  using R = tls_rpt::ResultType;
  if (s.empty()) return R::kSuccess;
  for (R r : {R::kStarttlsNotSupported, R::kCertificateHostMismatch, R::kCertificateExpired,
              R::kCertificateNotTrusted, R::kValidationFailure, R::kTlsaInvalid, R::kDnssecInvalid,
              R::kDaneRequired, R::kStsPolicyFetchError, R::kStsPolicyInvalid, R::kStsWebpkiInvalid}) {
    if (tls_rpt::result_type_name(r) == s) return r;
  }
  return R::kValidationFailure;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < s.size()) {
    size_t nl = s.find('\n', at);
    std::string line = s.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    if (!line.empty()) out.push_back(std::move(line));
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  return out;
}

int64_t total(const std::vector<tr::Row>& rows) {
  int64_t n = 0;
  for (const auto& r : rows) n += r.sessions;
  return n;
}

// The domain's TLS-RPT record (RFC 8460 3). nullopt with `why` set: none or not valid
// (drop); an error: the lookup failed (try again later).
base::Result<std::optional<tls_rpt::TxtRecord>> lookup_txt(dns::Resolver& resolver, const std::string& domain,
                                                            std::string* why) {
  const std::string name = "_smtp._tls." + domain;
  auto lookup = [&]() -> base::Task<dns::Answer> { co_return co_await resolver.lookup(name, dns::RrType::kTxt); };
  auto task = lookup();
  dns::Answer a = dns::run(resolver, task);
  if (!a.definite()) {
    return base::Error::temporary("TXT lookup of " + name + ": " + std::string(dns::status_name(a.status)));
  }
  std::vector<std::string> texts;
  for (const auto& rec : a.records) {
    if (rec.type != dns::RrType::kTxt) continue;
    std::string joined;
    for (const auto& s : rec.strings) joined += s;  // RFC 8460 3: strings concatenated
    if (rec.strings.empty()) joined = rec.text;
    texts.push_back(std::move(joined));
  }
  auto txt = tls_rpt::select_txt(texts);
  if (!txt) {
    *why = name + ": " + txt.error().message();
    return std::optional<tls_rpt::TxtRecord>();
  }
  if (txt->mailto().empty() && txt->https().empty()) {
    *why = name + ": no mailto: or https: destination";
    return std::optional<tls_rpt::TxtRecord>();
  }
  return std::optional<tls_rpt::TxtRecord>(std::move(*txt));
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

void log_outcome(const Outcome& o) {
  std::string day = date_of(o.day), sessions = std::to_string(o.sessions);
  std::string event = "tlsrpt_" + std::string(kind_name(o.kind));
  for (char& c : event) {
    if (c == '-') c = '_';
  }
  if (o.kind == Outcome::kFailed) {
    base::log_warn(event, {{"domain", o.domain}, {"day", day}, {"rua", o.rua}, {"sessions", sessions},
                           {"reason", o.why}});
  } else {
    base::log_info(event, {{"domain", o.domain}, {"day", day}, {"rua", o.rua}, {"sessions", sessions},
                           {"queue_id", o.queue_id}, {"reason", o.why}});
  }
}

}  // namespace

std::string_view kind_name(Outcome::Kind k) {
  switch (k) {
    case Outcome::kQueued: return "queued";
    case Outcome::kPosted: return "posted";
    case Outcome::kDropped: return "dropped";
    case Outcome::kFailed: return "failed";
    case Outcome::kDryRun: return "dry-run";
  }
  return "dropped";
}

std::string report_id(int64_t day, const std::string& domain, const std::string& submitter) {
  return rfc3339(day) + "_" + domain + "@" + submitter;
}

std::vector<tls_rpt::ResultRecord> records_of(const std::vector<tr::Row>& rows) {
  std::vector<tls_rpt::ResultRecord> out;
  out.reserve(rows.size());
  for (const tr::Row& r : rows) {
    tls_rpt::ResultRecord rec;
    rec.time = r.day;
    rec.policy_domain = r.policy_domain;
    rec.policy_type = policy_type_of(r.policy_type);
    rec.policy_strings = lines_of(r.policy);
    if (rec.policy_type == tls_rpt::PolicyType::kSts) {
      // RFC 8460 4.4 mx-host: the policy's mx patterns.
      for (const auto& l : rec.policy_strings) {
        if (l.rfind("mx:", 0) != 0) continue;
        std::string v = l.substr(3);
        v.erase(0, v.find_first_not_of(" \t"));
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) v.pop_back();
        if (!v.empty()) rec.mx_host.push_back(v);
      }
    }
    rec.result = result_type_of(r.result_type);
    rec.receiving_mx_hostname = r.mx_host;
    rec.receiving_ip = r.receiving_ip;
    rec.failure_reason_code = r.reason;
    rec.sessions = r.sessions;
    out.push_back(std::move(rec));
  }
  return out;
}

tls_rpt::Report build(const Options& o, int64_t day, const std::string& domain, const std::vector<tr::Row>& rows) {
  tls_rpt::ReportInfo info{.organization_name = o.organization,
                           .contact_info = o.contact,
                           .submitter = o.submitter,
                           .report_id = report_id(day, domain, o.submitter),
                           .start = day,
                           .end = day + 86400};
  return tls_rpt::aggregate(info, domain, records_of(rows));
}

base::Result<RunResult> send_due(store::Store& store, dns::Resolver& resolver, const Options& o,
                                 std::optional<int64_t> only_day, int64_t now) {
  RunResult out;
  auto pairs = tr::due(store, only_day ? 0 : tr::day_of(now));
  if (!pairs) return pairs.error();
  for (const tr::Due& d : *pairs) {
    if (only_day && d.day != *only_day) continue;
    Outcome oc;
    oc.day = d.day;
    oc.domain = d.domain;
    std::string why;
    auto txt = lookup_txt(resolver, d.domain, &why);
    if (!txt) {
      // Not known now: the counts stay for the next run.
      oc.kind = Outcome::kFailed;
      oc.why = txt.error().message();
      auto rows = tr::list(store, d.day, d.domain);
      if (rows) oc.sessions = total(*rows);
      out.temporary_failure = true;
      log_outcome(oc);
      out.reports.push_back(std::move(oc));
      continue;
    }
    if (!*txt) {
      // RFC 8460 3: no (valid) record: this domain wants no reports.
      oc.kind = o.dry_run ? Outcome::kDryRun : Outcome::kDropped;
      oc.why = why;
      if (o.dry_run) {
        auto rows = tr::list(store, d.day, d.domain);
        if (!rows) return rows.error();
        oc.sessions = total(*rows);
      } else {
        auto rows = tr::take(store, d.day, d.domain);
        if (!rows) return rows.error();
        oc.sessions = total(*rows);
        log_outcome(oc);
      }
      out.reports.push_back(std::move(oc));
      continue;
    }
    std::vector<std::string> mailto = (*txt)->mailto();
    const std::vector<std::string> https = (*txt)->https();
    std::vector<std::string> mailto_uris;
    for (const auto& u : (*txt)->rua) {
      if (u.size() > 7 && (u[0] == 'm' || u[0] == 'M')) mailto_uris.push_back(u);
    }
    oc.rua = joined((*txt)->rua);
    if (o.dry_run) {
      auto rows = tr::list(store, d.day, d.domain);
      if (!rows) return rows.error();
      oc.kind = Outcome::kDryRun;
      oc.sessions = total(*rows);
      out.reports.push_back(std::move(oc));
      continue;
    }
    // Take the counts — with the report mail queued in the same transaction when any
    // mailto: destination is asked for.
    std::vector<tr::Row> rows;
    std::string gz, queue_id;
    auto st = store::with_transaction(store.db(), store::Access::kWrite, [&](store::Db& tx) -> base::Status {
      auto got = tr::take_in(tx, d.day, d.domain);
      if (!got) return got.error();
      rows = std::move(*got);
      gz.clear();
      queue_id.clear();
      if (rows.empty()) return {};
      tls_rpt::Report rep = build(o, d.day, d.domain, rows);
      auto z = base::gzip_compress(tls_rpt::to_json(rep));
      if (!z) return z.error();
      gz = std::move(*z);
      if (mailto.empty()) return {};
      std::string msg = tls_rpt::report_message(rep, gz, o.from, mailto, now);
      q::NewMessage m;
      m.id = q::make_queue_id();
      m.envelope.sender = o.from;
      // No DSNs about reports: their sender is a no-reply address.
      for (const auto& a : mailto) m.envelope.recipients.push_back({.address = a, .notify = q::kNotifyNever});
      m.envelope.listener = "tlsrpt";
      m.data = msg;
      queue_id = m.id;
      return q::enqueue_in(tx, std::span<const q::NewMessage>(&m, 1));
    });
    if (!st && !st.error().temporary() && !mailto.empty()) {
      // The mail could not be queued as asked (an address that is not one): the https:
      // destinations still get the report; without any, the counts are dropped below.
      Outcome bad = oc;
      bad.kind = Outcome::kDropped;
      bad.rua = joined(mailto_uris);
      bad.why = "cannot queue the report mail: " + st.error().message();
      mailto.clear();
      st = store::with_transaction(store.db(), store::Access::kWrite, [&](store::Db& tx) -> base::Status {
        auto got = tr::take_in(tx, d.day, d.domain);
        if (!got) return got.error();
        rows = std::move(*got);
        gz.clear();
        if (rows.empty()) return {};
        auto z = base::gzip_compress(tls_rpt::to_json(build(o, d.day, d.domain, rows)));
        if (!z) return z.error();
        gz = std::move(*z);
        return {};
      });
      bad.sessions = total(rows);
      log_outcome(bad);
      out.reports.push_back(std::move(bad));
      if (st && https.empty()) continue;
    }
    if (!st) return st.error();
    if (rows.empty()) continue;  // another report run took them
    oc.sessions = total(rows);
    bool delivered = !mailto.empty();
    if (delivered) {
      Outcome m = oc;
      m.kind = Outcome::kQueued;
      m.rua = joined(mailto_uris);
      m.queue_id = queue_id;
      log_outcome(m);
      out.reports.push_back(std::move(m));
    }
    std::string failures;
    for (const std::string& url : https) {
      Outcome h = oc;
      h.rua = url;
      auto rq = dns::http::parse_url(url);
      base::Status posted;
      if (!rq) {
        posted = rq.error();
      } else {
        rq->method = "POST";
        rq->body = gz;
        rq->content_type = "application/tlsrpt+gzip";  // RFC 8460 5.2
        rq->ca_file = o.ca_file;
        rq->timeout = o.timeout;
        rq->user_agent = "postern-tlsrpt";
        auto r = dns::http::perform(resolver, *rq);
        if (!r) {
          posted = r.error();
        } else if (r->status < 200 || r->status > 299) {
          posted = base::Error::temporary("POST " + url + ": HTTP status " + std::to_string(r->status));
        }
      }
      if (posted) {
        h.kind = Outcome::kPosted;
        delivered = true;
      } else {
        h.kind = Outcome::kFailed;
        h.why = posted.error().message();
        failures += (failures.empty() ? "" : "; ") + h.why;
      }
      log_outcome(h);
      out.reports.push_back(std::move(h));
    }
    if (!delivered) {
      if (now - d.day > o.keep_failed) {
        Outcome x = oc;
        x.kind = Outcome::kDropped;
        x.why = "not sent for " + std::to_string(o.keep_failed / 86400) + " days: " + failures;
        log_outcome(x);
        out.reports.push_back(std::move(x));
      } else {
        // Back for the next run (added to whatever was counted meanwhile).
        if (auto back = tr::add(store, rows); !back) return back.error();
        out.temporary_failure = true;
      }
    }
  }
  return out;
}

base::Result<int64_t> parse_day(std::string_view s) {
  auto bad = [&] { return base::Error::usage("not a day (YYYY-MM-DD): " + std::string(s)); };
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return bad();
  auto num = [&](size_t at, size_t n, int& out) {
    out = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int y = 0, m = 0, d = 0;
  if (!num(0, 4, y) || !num(5, 2, m) || !num(8, 2, d) || y < 1970 || m < 1 || m > 12 || d < 1) return bad();
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > kDays[m - 1] + (m == 2 && leap ? 1 : 0)) return bad();
  // Days since 1970-01-01 (civil calendar).
  int yy = m <= 2 ? y - 1 : y;
  int era = yy / 400;
  int yoe = yy - era * 400;
  int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = static_cast<int64_t>(era) * 146097 + doe - 719468;
  return days * 86400;
}

std::string format_day(int64_t day) { return date_of(day); }

std::string list_text(const std::vector<tr::Row>& rows, bool json) {
  struct Sum {
    int64_t ok = 0, failed = 0;
  };
  std::vector<std::pair<std::tuple<int64_t, std::string, std::string>, Sum>> sums;
  for (const tr::Row& r : rows) {
    auto key = std::make_tuple(r.day, r.policy_domain, r.policy_type);
    auto it = std::find_if(sums.begin(), sums.end(), [&](const auto& p) { return p.first == key; });
    if (it == sums.end()) {
      sums.push_back({key, {}});
      it = sums.end() - 1;
    }
    (r.result_type.empty() ? it->second.ok : it->second.failed) += r.sessions;
  }
  std::string out;
  for (const auto& [k, v] : sums) {
    const auto& [day, domain, type] = k;
    if (json) {
      boost::json::object o;
      o["day"] = date_of(day);
      o["domain"] = domain;
      o["policy_type"] = type;
      o["successful"] = v.ok;
      o["failed"] = v.failed;
      out += boost::json::serialize(o) + "\n";
    } else {
      out += date_of(day) + "  " + domain + "  " + type + "  successful=" + std::to_string(v.ok) +
             " failed=" + std::to_string(v.failed) + "\n";
    }
  }
  if (!json && out.empty()) out = "nothing recorded\n";
  return out;
}

std::string outcome_text(const Outcome& o) {
  std::string s = std::string(kind_name(o.kind)) + " " + date_of(o.day) + " " + o.domain;
  if (!o.rua.empty()) s += " rua=" + o.rua;
  s += " sessions=" + std::to_string(o.sessions);
  if (!o.queue_id.empty()) s += " queue_id=" + o.queue_id;
  if (!o.why.empty()) s += " reason=\"" + o.why + "\"";
  return s + "\n";
}

}  // namespace postern::smtp::tls_report
