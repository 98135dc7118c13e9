// The resolver options the configuration asks for (the `dns:` section).
#pragma once

#include "config/config.h"
#include "dns/dns.h"

namespace postern::config {

// dns.servers, dns.timeout, dns.trust_anchor; spec "" (the network engine).
dns::ResolverOptions resolver_options(const Config& config);

}  // namespace postern::config
