#include "config/smtp.h"

#include "config/delivery.h"
#include "config/dns.h"
#include "config/spam.h"
#include "smtp/filter.h"

namespace postern::config {

base::Result<smtp::Settings> smtp_settings(const Config& cfg) {
  smtp::Settings s;
  s.hostname = cfg.get_string("server.hostname");
  for (const Config& l : cfg.get_maps("listeners")) {
    const std::string& mode = l.get_string("mode");
    smtp::ListenerSpec spec{.name = l.get_string("name"), .address = l.get_string("address")};
    if (mode == "mx") spec.mode = smtp::Mode::kMx;
    else if (mode == "submission") spec.mode = smtp::Mode::kSubmission;
    else if (mode == "submissions") spec.mode = smtp::Mode::kSubmissions;
    else if (mode == "lmtp") spec.mode = smtp::Mode::kLmtp;
    else if (mode == "local") spec.mode = smtp::Mode::kLocal;
    else continue;  // served by another program
    // A local listener is a Unix socket, the others TCP: say so here, not at bind time.
    bool unix_address = spec.address.starts_with("unix:");
    if (spec.mode == smtp::Mode::kLocal && (!unix_address || spec.address.size() < 6 ||
                                            spec.address[5] != '/')) {
      return base::Error::config(l.origin("address") + ": listener " + spec.name +
                                 ": mode local needs address unix:/absolute/path.sock, not " +
                                 spec.address);
    }
    if (spec.mode != smtp::Mode::kLocal && unix_address) {
      return base::Error::config(l.origin("address") + ": listener " + spec.name + ": mode " +
                                 mode + " needs host:port; unix: sockets are for mode local");
    }
    s.listeners.push_back(std::move(spec));
  }
  smtp::Limits& lim = s.limits;
  lim.max_message_size = cfg.get_size("smtp.max_message_size");
  lim.max_recipients = static_cast<int>(cfg.get_int("smtp.max_recipients"));
  lim.max_connections = static_cast<int>(cfg.get_int("smtp.max_connections"));
  lim.max_connections_per_ip = static_cast<int>(cfg.get_int("smtp.max_connections_per_ip"));
  lim.max_commands = static_cast<int>(cfg.get_int("smtp.max_commands"));
  lim.max_errors = static_cast<int>(cfg.get_int("smtp.max_errors"));
  lim.max_line = static_cast<size_t>(std::max<int64_t>(512, cfg.get_int("smtp.max_line")));
  lim.command_timeout = cfg.get_duration("smtp.command_timeout");
  lim.data_timeout = cfg.get_duration("smtp.data_timeout");
  lim.drain_timeout = cfg.get_duration("smtp.drain_timeout");
  lim.auth_failures_delay = static_cast<int>(cfg.get_int("smtp.auth_failures_delay"));
  lim.auth_failures_max = static_cast<int>(cfg.get_int("smtp.auth_failures_max"));
  lim.auth_failures_window = cfg.get_duration("smtp.auth_failures_window");
  lim.messages_per_ip_per_minute = static_cast<int>(cfg.get_int("smtp.messages_per_ip_per_minute"));
  lim.messages_per_sender_per_minute =
      static_cast<int>(cfg.get_int("smtp.messages_per_sender_per_minute"));
  s.auth_requires_tls = cfg.get_bool("smtp.auth_requires_tls");
  s.relay_domains = cfg.get_list("smtp.relay_domains");
  auto srs = srs_options(cfg);
  if (!srs) return srs.error();
  s.srs = std::move(*srs);
  s.bare_lf = cfg.get_string("smtp.bare_lf") == "reject" ? smtp::BareLf::kReject
                                                         : smtp::BareLf::kNormalize;
  const std::string& dmarc = cfg.get_string("smtp.dmarc");
  s.dmarc = dmarc == "enforce" ? smtp::DmarcMode::kEnforce
            : dmarc == "off"   ? smtp::DmarcMode::kOff
                               : smtp::DmarcMode::kTag;
  s.dmarc_record = cfg.get_string("smtp.dmarc_record");
  s.trusted_arc_sealers = cfg.get_list("smtp.trusted_arc_sealers");
  s.psl_file = cfg.get_string("smtp.psl");
  s.metrics_address = cfg.get_string("smtp.metrics");
  s.tls_certificate = cfg.get_string("tls.certificate");
  s.tls_key = cfg.get_string("tls.key");
  s.resolver = resolver_options(cfg);
  for (const Config& f : cfg.get_maps("smtp.filters")) {
    smtp::FilterStage st;
    st.name = f.get_string("name");
    const std::string& at = f.get_string("stage");
    st.at = at == "connect" ? smtp::FilterAt::kConnect
            : at == "helo"  ? smtp::FilterAt::kHelo
            : at == "mail"  ? smtp::FilterAt::kMail
            : at == "rcpt"  ? smtp::FilterAt::kRcpt
                            : smtp::FilterAt::kData;
    st.builtin = f.get_string("builtin");
    st.exec = f.get_list("exec");
    st.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(f.get_duration("timeout"));
    st.accept_on_error = f.get_string("on_error") == "accept";
    st.check = f.get_bool("check");
    st.listeners = f.get_list("listeners");
    if (st.builtin.empty() == st.exec.empty()) {
      return base::Error::config(f.origin("name") + ": filter " + st.name +
                                 ": give exactly one of builtin and exec");
    }
    if (!st.builtin.empty() && !smtp::known_builtin(st.builtin)) {
      return base::Error::config(f.origin("builtin") + ": filter " + st.name +
                                 ": unknown builtin " + st.builtin +
                                 " (known: auth-check, spam-score, dnsbl, greylist)");
    }
    s.filters.push_back(std::move(st));
  }
  if (smtp::uses_spam_filter(s)) {
    auto spam = spam_settings(cfg);
    if (!spam) return spam.error();
    s.spam = std::make_shared<const spam::Settings>(std::move(*spam));
  }
  s.greylist.delay = cfg.get_duration("spam.greylist.delay");
  s.greylist.retry_window = cfg.get_duration("spam.greylist.retry_window");
  s.greylist.expire = cfg.get_duration("spam.greylist.expire");
  s.greylist.auto_allow = static_cast<int>(cfg.get_int("spam.greylist.auto_allow"));
  for (const Config& e : cfg.get_maps("smtp.send_as")) {
    s.send_as.push_back({e.get_string("login"), e.get_list("addresses")});
  }
  s.local_trusted_users = cfg.get_list("smtp.local_trusted_users");
  const std::string& service_user = cfg.get_string("server.user");
  if (!service_user.empty()) s.local_trusted_users.push_back(service_user);
  for (const Config& e : cfg.get_maps("smtp.local_senders")) {
    s.local_senders.push_back({e.get_string("user"), e.get_list("addresses")});
  }
  return s;
}

}  // namespace postern::config
