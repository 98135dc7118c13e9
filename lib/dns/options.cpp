#include "dns/options.h"

namespace postern::dns {

void add_resolver_options(CLI::App& app, ResolverFlags& flags) {
  flags.servers =
      app.add_option("--dns-server", flags.given.servers,
                     "DNS server to forward lookups to, IP[:PORT] or [IPv6]:PORT (repeatable; "
                     "default: dns.servers, else /etc/resolv.conf)")
          ->type_name("HOST:PORT")
          ->allow_extra_args(false);
  flags.spec = app.add_option("--resolver", flags.given.spec,
                              "resolver: system (the default) or file:PATH (a zone file)")
                   ->type_name("SPEC");
  flags.timeout = app.add_option("--dns-timeout", flags.timeout_ms,
                                 "time to wait for one DNS answer, in milliseconds")
                      ->type_name("MS")
                      ->check(CLI::PositiveNumber);
  flags.trust_anchor = app.add_option("--trust-anchor", flags.given.trust_anchor_file,
                                      "DNSSEC trust anchors (DS or DNSKEY records, zone-file "
                                      "syntax)")
                           ->type_name("FILE");
}

ResolverOptions ResolverFlags::over(ResolverOptions base) const {
  auto set = [](const CLI::Option* o) { return o != nullptr && o->count() > 0; };
  if (set(servers)) base.servers = given.servers;
  if (set(spec)) base.spec = given.spec;
  if (set(timeout)) base.timeout = std::chrono::milliseconds(timeout_ms);
  if (set(trust_anchor)) base.trust_anchor_file = given.trust_anchor_file;
  return base;
}

}  // namespace postern::dns
