// The resolver options the configuration asks for (the `dns:` section).
#pragma once

#include <functional>
#include <string>

#include "base/cli.h"
#include "config/config.h"
#include "dns/dns.h"

namespace postern::config {

// dns.servers, dns.timeout, dns.trust_anchor; spec "" (the network engine).
dns::ResolverOptions resolver_options(const Config& config);

// The shared end of main() for every program that looks up DNS: adds the resolver options
// (--dns-server, --resolver, ...), runs `body` through base::run_main with the
// configuration loaded, and hands it the effective resolver options (the command line over
// the config). When `authserv_id` is given and was left empty, it becomes server.hostname
// (RFC 8601 2.5). When `config_out` is given, the loaded configuration is copied there
// before `body` runs.
//
//   return config::run_with_resolver(argc, argv, app, {.name = "spf-check"},
//                                    [&](const dns::ResolverOptions& r) { return run(o, r); },
//                                    &o.authserv_id);
int run_with_resolver(int argc, char** argv, CLI::App& app, const base::ToolSpec& spec,
                      const std::function<int(const dns::ResolverOptions&)>& body,
                      std::string* authserv_id = nullptr, Config* config_out = nullptr);

}  // namespace postern::config
