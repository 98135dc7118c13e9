#include "config/delivery.h"

#include <fstream>
#include <sstream>

#include "config/dns.h"
#include "config/spam.h"

namespace postern::config {

namespace {

base::Result<std::string> read_key(const std::string& path, const std::string& where) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::Error::config(where + ": cannot read the DKIM key " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

base::Result<smtp::delivery::Settings> delivery_settings(const Config& cfg) {
  smtp::delivery::Settings s;
  s.hostname = cfg.get_string("server.hostname");
  s.retry.schedule.clear();
  for (const std::string& d : cfg.get_list("delivery.retry")) {
    auto v = parse_duration_text(d);
    if (!v || v->count() <= 0) {
      return base::Error::config(cfg.origin("delivery.retry") + ": delivery.retry: \"" + d +
                                 "\" is not a positive duration");
    }
    s.retry.schedule.push_back(*v);
  }
  if (s.retry.schedule.empty()) s.retry.schedule.push_back(std::chrono::minutes(5));
  s.retry.max_lifetime = cfg.get_duration("delivery.max_lifetime");
  s.retry.delay_warning = cfg.get_duration("delivery.delay_warning");
  s.max_connections = static_cast<int>(cfg.get_int("delivery.max_connections"));
  s.max_per_destination = static_cast<int>(cfg.get_int("delivery.max_per_destination"));
  s.max_recipients = static_cast<int>(cfg.get_int("delivery.max_recipients"));
  s.batch = static_cast<size_t>(std::max<int64_t>(1, cfg.get_int("delivery.batch")));
  s.lease = cfg.get_duration("delivery.lease");
  s.poll = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.get_duration("delivery.poll"));
  if (s.poll.count() <= 0) s.poll = std::chrono::milliseconds(1000);
  s.connection_idle = cfg.get_duration("delivery.connection_idle");
  s.connect_timeout = cfg.get_duration("delivery.connect_timeout");
  s.command_timeout = cfg.get_duration("delivery.command_timeout");
  s.data_timeout = cfg.get_duration("delivery.data_timeout");
  s.mta_sts = cfg.get_bool("delivery.mta_sts");
  s.dane = cfg.get_bool("delivery.dane");
  s.tls_ca_file = cfg.get_string("delivery.tls_ca_file");
  s.resolver = resolver_options(cfg);
  s.metrics_address = cfg.get_string("delivery.metrics");
  for (const Config& t : cfg.get_maps("delivery.transports")) {
    smtp::routing::TransportRule r;
    r.domain = t.get_string("domain");
    r.via = t.get_string("via");
    if (auto v = smtp::routing::parse_via(r.via); !v) {
      return base::Error::config(t.origin("via") + ": " + v.error().message());
    }
    r.tls = smtp::routing::parse_tls(t.get_string("tls")).value_or(smtp::routing::TlsRequirement::kOpportunistic);
    r.auth_user = t.get_string("auth_user");
    r.auth_password = t.get_string("auth_password");
    s.transports.push_back(std::move(r));
  }
  for (const Config& k : cfg.get_maps("delivery.dkim")) {
    smtp::delivery::DkimKey key;
    key.domain = k.get_string("domain");
    key.selector = k.get_string("selector");
    auto pem = read_key(k.get_string("key"), k.origin("key"));
    if (!pem) return pem.error();
    key.key_pem = std::move(*pem);
    s.dkim.push_back(std::move(key));
  }
  auto srs = srs_options(cfg);
  if (!srs) return srs.error();
  s.srs = std::move(*srs);
  s.tls_rpt.enabled = cfg.get_bool("delivery.tls_rpt.enabled");
  s.tls_rpt.organization = cfg.get_string("delivery.tls_rpt.organization");
  if (s.tls_rpt.organization.empty()) s.tls_rpt.organization = s.hostname;
  s.tls_rpt.contact = cfg.get_string("delivery.tls_rpt.contact");
  if (s.tls_rpt.contact.empty()) s.tls_rpt.contact = "postmaster@" + s.hostname;
  s.tls_rpt.from = cfg.get_string("delivery.tls_rpt.from");
  if (s.tls_rpt.from.empty()) s.tls_rpt.from = "noreply-tlsrpt@" + s.hostname;
  // Per-recipient spam verdicts where smtp-listen scores mail (its spam-score stage).
  bool scored = false;
  for (const Config& f : cfg.get_maps("smtp.filters")) scored |= f.get_string("builtin") == "spam-score";
  if (scored && cfg.get_bool("spam.bayes")) {
    auto spam = spam_settings(cfg);
    if (!spam) return spam.error();
    s.spam = std::make_shared<const spam::Settings>(std::move(*spam));
  }
  return s;
}

base::Result<mail::srs::Options> srs_options(const Config& cfg) {
  mail::srs::Options o;
  o.domain = cfg.get_string("delivery.srs.domain");
  o.secrets = cfg.get_list("delivery.srs.secrets");
  o.max_age_days = static_cast<int>(cfg.get_duration("delivery.srs.max_age").count() / 86400);
  if (!o.domain.empty() && o.secrets.empty()) {
    return base::Error::config(cfg.origin("delivery.srs.domain") +
                               ": delivery.srs.domain needs at least one of delivery.srs.secrets");
  }
  return o;
}

}  // namespace postern::config
