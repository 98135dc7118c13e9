#include "config/dns.h"

#include "dns/options.h"

namespace postern::config {

dns::ResolverOptions resolver_options(const Config& config) {
  dns::ResolverOptions o;
  o.servers = config.get_list("dns.servers");
  o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      config.get_duration("dns.timeout"));
  o.trust_anchor_file = config.get_string("dns.trust_anchor");
  return o;
}

int run_with_resolver(int argc, char** argv, CLI::App& app, const base::ToolSpec& spec,
                      const std::function<int(const dns::ResolverOptions&)>& body,
                      std::string* authserv_id, Config* config_out) {
  dns::ResolverFlags flags;
  dns::add_resolver_options(app, flags);
  Config config;
  return base::run_main(
      argc, argv, app, spec,
      [&] {
        if (authserv_id != nullptr && authserv_id->empty()) {
          *authserv_id = config.get_string("server.hostname");
        }
        if (config_out != nullptr) *config_out = config;
        return body(flags.over(resolver_options(config)));
      },
      loader(&config));
}

}  // namespace postern::config
