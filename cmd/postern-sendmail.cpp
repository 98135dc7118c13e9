// postern-sendmail: the sendmail(8) command line for local programs (cron, PHP, mail(1)).
// It hands the message to smtp-listen's local listener over a Unix socket and never
// needs the store; the server checks the sender against the caller's uid. See
// postern-sendmail(8).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "base/cli.h"
#include "base/fd.h"
#include "base/result.h"
#include "config/config.h"
#include "config/store.h"
#include "smtp/sendmail.h"
#include "store/queue.h"
#include "store/queue_admin.h"

namespace {

namespace base = postern::base;
namespace config = postern::config;
namespace sendmail = postern::smtp::sendmail;

constexpr const char* kDefaultConfig = "/etc/postern/postern.yaml";
// Used when the configuration cannot be read by the caller (it may name secret files).
constexpr const char* kDefaultSocket = "/run/postern/submit.sock";

struct Args {
  sendmail::Options o;
  std::vector<std::string> o_options;  // -oX
  std::string mode = "m";              // -bX
  std::string config_file;             // -C
  bool verbose = false;
  int hops = 0;  // -h, ignored
};

// -o options: -oi is -i; the error and delivery modes and the rest of the harmless
// legacy set are accepted and ignored (Postfix does the same).
base::Status apply_o_options(Args& a) {
  for (const std::string& v : a.o_options) {
    if (v == "i") {
      a.o.ignore_dots = true;
    } else if (v == "m" || v == "o" || (v.size() == 2 && (v[0] == 'e' || v[0] == 'd')) ||
               v == "dbackground" || v == "dinteractive" || v == "dqueue") {
      continue;
    } else {
      return base::Error::usage("-o" + v + " is not supported (only -oi, -om, -oo, -oeX, -odX)");
    }
  }
  return {};
}

// The configuration file: -C, -c, or the default. Only -bp needs more than the socket.
std::string config_path(const Args& a, const base::CommonOptions& common) {
  if (!a.config_file.empty()) return a.config_file;
  if (!common.config_file.empty()) return common.config_file;
  return kDefaultConfig;
}

base::Result<config::Config> load_config(const std::string& path, const base::CommonOptions& c) {
  if (::access(path.c_str(), R_OK) != 0 && errno == EACCES) {
    return base::Error::permission(path + ": permission denied");
  }
  return config::load(path, c.sets);
}

// The local listener's socket: $POSTERN_SENDMAIL_SOCKET, or the first listener of mode
// local in the configuration.
base::Result<std::string> socket_path(const Args& a, const base::CommonOptions& common) {
  if (const char* env = std::getenv("POSTERN_SENDMAIL_SOCKET"); env && *env)
    return std::string(env);
  std::string path = config_path(a, common);
  auto cfg = load_config(path, common);
  struct stat st {};
  if (!cfg && ::stat(kDefaultSocket, &st) == 0 && S_ISSOCK(st.st_mode))
    return std::string(kDefaultSocket);
  if (!cfg) {
    return base::Error::temporary("message NOT accepted: cannot read the configuration: " +
                                  cfg.error().message());
  }
  for (const config::Config& l : cfg->get_maps("listeners")) {
    const std::string& address = l.get_string("address");
    if (l.get_string("mode") == "local" && address.starts_with("unix:")) return address.substr(5);
  }
  return base::Error::temporary("message NOT accepted: " + path +
                                " has no listener with mode local (see postern-sendmail(8))");
}

// -bp: the queue, as queue-ctl list shows it; only for those who can read the store.
int list_queue(const Args& a, const base::CommonOptions& common) {
  std::string path = config_path(a, common);
  auto cfg = load_config(path, common);
  if (!cfg && cfg.error().code() == base::ExitCode::kNoPerm) {
    return base::fail(
        base::Error::permission("-bp: cannot read " + path +
                                ": only users who can read the mail store may list the queue"));
  }
  if (!cfg) return base::fail(cfg.error());
  std::string url = config::store_options(*cfg).url;
  if (url.starts_with("sqlite:")) {
    std::string db = url.substr(7);
    if (::access(db.c_str(), R_OK) != 0 && errno == EACCES) {
      return base::fail(base::Error::permission("-bp: cannot read the store " + db +
                                                ": only users who can read it may list the queue"));
    }
  }
  auto st = config::open_existing_store(*cfg, "", "");
  if (!st) return base::fail(st.error());
  postern::store::queue::Queue q(**st);
  auto out = postern::store::queue::list_text(q, {}, false);
  if (!out) return base::fail(out.error());
  base::write_stdout(*out);
  return 0;
}

int run(Args& a, const base::CommonOptions& common) {
  if (auto st = apply_o_options(a); !st) return base::fail(st.error());
  if (a.mode == "p") return list_queue(a, common);
  auto path = socket_path(a, common);
  if (!path) return base::fail(path.error());
  if (a.mode == "s") {
    auto fd = sendmail::connect_unix(*path);
    if (!fd) return base::fail(fd.error());
    auto st = sendmail::relay(0, 1, fd->get());
    return st ? 0 : base::fail(st.error());
  }
  auto input = base::read_all(0);
  if (!input) return base::fail(input.error().with_context("reading the message"));
  auto message = sendmail::prepare(*input, a.o);
  if (!message) return base::fail(message.error());
  auto fd = sendmail::connect_unix(*path);
  if (!fd) return base::fail(fd.error());
  sendmail::Caller who = sendmail::caller();
  if (const char* name = std::getenv("NAME"); name && *name && a.o.full_name.empty()) {
    a.o.full_name = name;
  }
  sendmail::Trace trace;
  if (a.verbose) {
    trace = [](std::string_view dir, std::string_view line) { std::cerr << dir << line << "\n"; };
  }
  std::string id;
  auto st = sendmail::submit(fd->get(), a.o, *message, who, trace, &id);
  if (!st) return base::fail(st.error());
  if (a.verbose) std::cerr << "queued as " << id << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);  // a reader of -bs output that goes away is not an error
  CLI::App app{"send mail through the local Postern mail service (the sendmail interface)"};
  app.set_help_flag("--help", "print this help and exit");  // -h is sendmail's hop count
  Args a;
  sendmail::Options& o = a.o;
  app.add_flag("-t", o.extract_recipients,
               "recipients also from the To:, Cc: and Bcc: fields (Bcc: is removed)");
  CLI::Option* from = app.add_option("-f,-r", o.sender,
                                     "envelope sender (default: LOGIN@HOSTNAME; \"<>\" for none)")
                          ->type_name("ADDR");
  app.add_option("-F", o.full_name, "full name for a From: field that is added")->type_name("NAME");
  app.add_flag("-i", o.ignore_dots, "a line holding only \".\" does not end the message");
  app.add_option("-o", a.o_options, "legacy options: -oi (as -i); -om, -oo, -oeX, -odX are ignored")
      ->type_name("OPT")
      ->expected(1)
      ->allow_extra_args(false)  // -oi ADDR: the address is a recipient, not another -o
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("-b", a.mode,
                 "mode: m sends the message (default), s speaks SMTP on standard "
                 "input and output, p lists the queue")
      ->type_name("{m,s,p}")
      ->check(CLI::IsMember({"m", "s", "p"}));
  app.add_option("-C", a.config_file,
                 "configuration file (as -c; default " + std::string(kDefaultConfig) + ")")
      ->type_name("FILE");
  app.add_flag("-v", a.verbose, "show the SMTP dialogue on standard error");
  app.add_option("-N", o.notify, "DSN: when to notify the sender: never, or success,failure,delay")
      ->type_name("NOTIFY")
      ->check([](const std::string& v) -> std::string {
        if (v == "never") return {};
        std::string rest = v + ",";
        for (size_t p = 0; p < rest.size();) {
          size_t c = rest.find(',', p);
          std::string w = rest.substr(p, c - p);
          if (w != "success" && w != "failure" && w != "delay") return "bad NOTIFY word: " + w;
          p = c + 1;
        }
        return {};
      });
  app.add_option("-R", o.ret, "DSN: return the full message or only its header in a bounce")
      ->type_name("{full,hdrs}")
      ->check(CLI::IsMember({"full", "hdrs"}, CLI::ignore_case));
  app.add_option("-V", o.envid, "DSN: envelope id reported in notifications")->type_name("ENVID");
  app.add_option("-B", o.body, "body type: 7bit or 8bitmime (default: from the content)")
      ->type_name("{7bit,8bitmime}")
      ->check(CLI::IsMember({"7bit", "8bitmime"}, CLI::ignore_case));
  app.add_option("-h", a.hops, "hop count (accepted and ignored)")->type_name("N");
  app.add_option("recipients", o.recipients, "recipient addresses")->type_name("ADDR");
  base::CommonOptions common;
  return base::run_main(
      argc, argv, app, {.name = "postern-sendmail", .delivery_path = true},
      [&] {
        o.sender_given = from->count() > 0;
        return run(a, common);
      },
      [&](const base::CommonOptions& c) {
        common = c;
        return base::Status();
      });
}
