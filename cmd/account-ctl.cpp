// account-ctl: manage mail domains, accounts, passwords, quotas, aliases and app
// passwords in the store. Clear passwords are read from standard input (or a terminal
// prompt), never from the command line. See account-ctl(8).
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/cli.h"
#include "base/exit_code.h"
#include "base/log.h"
#include "base/result.h"
#include "config/config.h"
#include "config/store.h"
#include "store/account_admin.h"
#include "store/password.h"
#include "store/store.h"

namespace {

namespace base = postern::base;
namespace store = postern::store;
namespace admin = postern::store::admin;
using base::Error;

struct Args {
  std::string domain, address, name, source, target, size, hash, label;
  bool password_stdin = false, cascade = false;
};

using Action = std::function<base::Status(store::Store&)>;

int print(const base::Result<std::string>& out) {
  if (!out) return base::fail(out.error());
  base::write_stdout(*out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"manage domains, accounts, passwords, quotas and aliases in the store"};
  app.require_subcommand(1);
  std::string store_url, blob_dir;
  postern::config::add_store_options(app, &store_url, &blob_dir);
  bool json = false;
  app.add_flag("-j,--json", json, "list and show print one JSON object per line");
  Args a;
  // Each leaf subcommand with what it does; exactly one runs.
  std::vector<std::pair<CLI::App*, std::function<int(store::Store&)>>> leaves;
  auto leaf = [&](CLI::App* parent, const char* name, const char* help,
                  std::function<int(store::Store&)> run) {
    CLI::App* c = parent->add_subcommand(name, help);
    c->fallthrough();
    leaves.emplace_back(c, std::move(run));
    return c;
  };
  auto status = [](const base::Status& st) { return st ? 0 : base::fail(st.error()); };
  auto addr = [&](CLI::App* c, std::string* v, const std::string& what = "ADDRESS") {
    bool dom = what == "DOMAIN";
    c->add_option(dom ? "domain" : "address", *v, dom ? "the domain" : "the account's address")
        ->type_name(what)
        ->required();
  };

  CLI::App* domain = app.add_subcommand("domain", "add, delete or list local domains");
  domain->require_subcommand(1);
  domain->fallthrough();
  addr(leaf(domain, "add", "add a local domain",
            [&](store::Store& s) { return status(admin::add_domain(s, a.domain)); }),
       &a.domain, "DOMAIN");
  auto* ddel =
      leaf(domain, "del", "delete a domain (refused while it has accounts or aliases)",
           [&](store::Store& s) { return status(admin::remove_domain(s, a.domain, a.cascade)); });
  addr(ddel, &a.domain, "DOMAIN");
  ddel->add_flag("--cascade", a.cascade, "also delete its accounts (and their mail) and aliases");
  leaf(domain, "list", "list local domains with their account counts",
       [&](store::Store& s) { return print(admin::list_domains(s, json)); });

  auto* add = leaf(&app, "add", "add an account", [&](store::Store& s) -> int {
    uint64_t quota = 0;
    if (!a.size.empty()) {
      auto q = admin::parse_size(a.size);
      if (!q) return base::fail(q.error());
      quota = *q;
    }
    std::optional<store::Credentials> cred;
    if (a.password_stdin) {
      auto pw = admin::read_password(true);
      if (!pw) return base::fail(pw.error());
      auto c = store::make_credentials(*pw);
      if (!c) return base::fail(c.error());
      cred = std::move(*c);
    } else if (!a.hash.empty()) {
      auto c = store::import_hash(a.hash);
      if (!c) return base::fail(c.error());
      cred = std::move(*c);
    }
    if (auto st = admin::add_account(s, a.address, a.name, quota, cred); !st) {
      return base::fail(st.error());
    }
    if (!cred) base::log_info("account has no password yet", {{"address", a.address}});
    return 0;
  });
  addr(add, &a.address);
  add->add_option("--name", a.name, "display name")->type_name("NAME");
  add->add_option("--quota", a.size, "storage quota (512M, 2G; 0 or none: unlimited)")
      ->type_name("SIZE");
  auto* pw_in = add->add_flag("--password-stdin", a.password_stdin,
                              "read the password from standard input (one line)");
  add->add_option("--password-hash", a.hash,
                  "import a crypt(3) hash ($y$, $6$, $5$, $2b$, $1$; Dovecot {SCHEME} prefixes)")
      ->type_name("HASH")
      ->excludes(pw_in);

  addr(leaf(&app, "del", "delete an account with all its mail",
            [&](store::Store& s) { return status(admin::remove_account(s, a.address)); }),
       &a.address);
  leaf(&app, "list", "list accounts (of one domain)",
       [&](store::Store& s) { return print(admin::list_accounts(s, a.domain, json)); })
      ->add_option("domain", a.domain, "only this domain")
      ->type_name("DOMAIN");
  addr(leaf(&app, "show", "show an account: quota, mailboxes, password scheme",
            [&](store::Store& s) { return print(admin::show_account(s, a.address, json)); }),
       &a.address);
  addr(leaf(&app, "passwd", "set an account's password (read from standard input)",
            [&](store::Store& s) -> int {
              auto pw = admin::read_password(true);
              if (!pw) return base::fail(pw.error());
              auto c = store::make_credentials(*pw);
              if (!c) return base::fail(c.error());
              return status(admin::set_password(s, a.address, *c));
            }),
       &a.address);
  auto* quota = leaf(&app, "quota", "set an account's quota", [&](store::Store& s) -> int {
    auto q = admin::parse_size(a.size);
    if (!q) return base::fail(q.error());
    return status(admin::set_quota(s, a.address, *q));
  });
  addr(quota, &a.address);
  quota->add_option("size", a.size, "512M, 2G, ...; 0 or none: unlimited")
      ->type_name("SIZE")
      ->required();
  addr(leaf(&app, "enable", "let an account log in and receive mail",
            [&](store::Store& s) { return status(admin::set_enabled(s, a.address, true)); }),
       &a.address);
  addr(leaf(&app, "disable", "stop an account's logins and deliveries",
            [&](store::Store& s) { return status(admin::set_enabled(s, a.address, false)); }),
       &a.address);

  CLI::App* alias = app.add_subcommand("alias", "add, delete or list aliases");
  alias->require_subcommand(1);
  alias->fallthrough();
  auto* aadd =
      leaf(alias, "add", "add an alias (SOURCE may be @domain: catch-all)",
           [&](store::Store& s) { return status(admin::add_alias(s, a.source, a.target)); });
  aadd->add_option("source", a.source, "alias address or @domain")->type_name("SOURCE")->required();
  aadd->add_option("target", a.target, "where it goes")->type_name("TARGET")->required();
  auto* adel =
      leaf(alias, "del", "delete one target of an alias, or all of them",
           [&](store::Store& s) { return status(admin::remove_alias(s, a.source, a.target)); });
  adel->add_option("source", a.source, "alias address or @domain")->type_name("SOURCE")->required();
  adel->add_option("target", a.target, "only this target")->type_name("TARGET");
  leaf(alias, "list", "list aliases (of one domain)",
       [&](store::Store& s) { return print(admin::list_aliases(s, a.domain, json)); })
      ->add_option("domain", a.domain, "only this domain")
      ->type_name("DOMAIN");

  CLI::App* app_pw = app.add_subcommand("app-password", "per-device passwords of an account");
  app_pw->require_subcommand(1);
  app_pw->fallthrough();
  auto* padd = leaf(app_pw, "add", "generate an app password and print it once",
                    [&](store::Store& s) -> int {
                      auto pw = admin::add_app_password(s, a.address, a.label);
                      if (!pw) return base::fail(pw.error());
                      base::write_stdout(*pw + "\n");
                      return 0;
                    });
  addr(padd, &a.address);
  padd->add_option("name", a.label, "what it is for (\"phone\")")->type_name("NAME")->required();
  auto* pdel = leaf(app_pw, "del", "delete an app password", [&](store::Store& s) {
    return status(admin::remove_app_password(s, a.address, a.label));
  });
  addr(pdel, &a.address);
  pdel->add_option("name", a.label, "its name")->type_name("NAME")->required();
  addr(leaf(app_pw, "list", "list an account's app passwords",
            [&](store::Store& s) { return print(admin::list_app_passwords(s, a.address, json)); }),
       &a.address);

  addr(leaf(&app, "verify", "check a password from standard input: exit 0 if it matches",
            [&](store::Store& s) -> int {
              auto pw = admin::read_password(false);
              if (!pw) return base::fail(pw.error());
              auto m = admin::verify(s, a.address, *pw);
              if (!m) return base::fail(m.error());
              base::write_stdout(*m ? "match " + **m + "\n" : "no match\n");
              return *m ? 0 : base::to_int(base::ExitCode::kNo);
            }),
       &a.address);

  postern::config::Config cfg;
  return base::run_main(
      argc, argv, app, {.name = "account-ctl"},
      [&]() -> int {
        for (auto& [cmd, run] : leaves) {
          if (!cmd->parsed()) continue;
          // Only `domain add` creates a missing store: the first step of a new install.
          bool create = cmd->get_name() == "add" && cmd->get_parent() == domain;
          auto s = postern::config::open_store(cfg, store_url, blob_dir, create);
          if (!s) {
            Error e = s.error();
            if (e.code() == base::ExitCode::kUnavailable) e = Error::temporary(e.message());
            return base::fail(e);
          }
          return run(**s);
        }
        return base::fail(Error::usage("no command given"));
      },
      postern::config::loader(&cfg));
}
