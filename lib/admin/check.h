// `postern check`: the whole configuration and everything it points at, every problem at
// once, each where it comes from ("postern.yaml:12:5: ...").
//
//   auto findings = admin::check_config("/etc/postern/postern.yaml", {}, {});
//   for (const auto& f : findings) std::cout << f.str() << "\n";
//   return admin::has_errors(findings) ? 78 : 0;
//
// What it looks at, in order (a later step runs only when it can mean something):
// 1. the YAML against the schema (syntax, unknown and duplicate keys, types, ${env:} and
//    ${file:} substitutions) — every diagnostic;
// 2. the settings each service builds from it (smtp-listen's, queue-run's: transports,
//    SRS, filters);
// 3. the files: the TLS certificate (readable, PEM, not expired, warning within 14 days)
//    and its key (readable, matching), every DKIM key (loads as RSA or Ed25519), the DNS
//    trust anchor, the PSL, delivery.tls_ca_file;
// 4. the store (opens, schema current or migratable);
// 5. modes: a private key (TLS, DKIM) or the config file that others may read is a
//    warning, one others may write an error; when run as root, a file the services must
//    read that server.user cannot is an error (they run as that user), and so is a SQLite
//    store outside server.data_dir that it cannot write.
#pragma once

#include <string>
#include <vector>

namespace postern::admin {

struct Finding {
  enum Level { kError, kWarning } level = kError;
  std::string where;    // "postern.yaml:12:5", a file path, or "" (the whole config)
  std::string message;  // one line
  // "postern.yaml:12:5: error: ..." / "warning: ..."
  std::string str() const;
};

struct CheckOptions {
  bool store = true;        // step 4 (off: for a config meant for another machine)
  bool permissions = true;  // step 5
};

std::vector<Finding> check_config(const std::string& path, const std::vector<std::string>& sets,
                                  const CheckOptions& options);

bool has_errors(const std::vector<Finding>& findings);

// What `postern check` prints: one line per finding, then "N errors, M warnings"; "" when
// there is nothing to say.
std::string report_text(const std::vector<Finding>& findings);

}  // namespace postern::admin
