// The resolver options every DNS-using tool shares, on the command line:
//
//   --dns-server HOST:PORT   forwarder, repeatable (replaces dns.servers)
//   --resolver SPEC          system | file:PATH (a zone file, for tests)
//   --dns-timeout MS         per lookup (replaces dns.timeout)
//   --trust-anchor FILE      DNSSEC trust anchors (replaces dns.trust_anchor)
//
//   dns::ResolverFlags flags;
//   dns::add_resolver_options(app, flags);
//   ... after parsing and loading the config:
//   auto resolver = dns::make_resolver(flags.over(config::resolver_options(cfg)));
#pragma once

#include <CLI/CLI.hpp>

#include "dns/dns.h"

namespace postern::dns {

struct ResolverFlags {
  ResolverOptions given;  // what the command line set
  int64_t timeout_ms = 0;
  CLI::Option* servers = nullptr;
  CLI::Option* spec = nullptr;
  CLI::Option* timeout = nullptr;
  CLI::Option* trust_anchor = nullptr;

  // `base` (from the configuration) with the options given on the command line in place
  // of its values.
  ResolverOptions over(ResolverOptions base) const;
};

void add_resolver_options(CLI::App& app, ResolverFlags& flags);

}  // namespace postern::dns
