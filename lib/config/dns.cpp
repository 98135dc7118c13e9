#include "config/dns.h"

namespace postern::config {

dns::ResolverOptions resolver_options(const Config& config) {
  dns::ResolverOptions o;
  o.servers = config.get_list("dns.servers");
  o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      config.get_duration("dns.timeout"));
  o.trust_anchor_file = config.get_string("dns.trust_anchor");
  return o;
}

}  // namespace postern::config
