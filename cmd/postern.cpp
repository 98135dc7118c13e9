// postern: runs the whole stack from one configuration (run), asks the running supervisor
// about it (status, reload, stop), and runs any Postern tool by name, git-style
// (`postern dkim-verify msg.eml`). See postern(8).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "admin/check.h"
#include "base/cli.h"
#include "base/log.h"
#include "config/config.h"
#include "supervise/control.h"
#include "supervise/supervise.h"
#include "supervise/tools.h"

namespace {

namespace admin = postern::admin;
namespace base = postern::base;
namespace config = postern::config;
namespace sup = postern::supervise;

constexpr const char* kDefaultConfig = "/etc/postern/postern.yaml";

struct Options {
  int notify_fd = -1;
  bool json = false;
  std::string socket;
  std::vector<std::string> help_topic;
  bool no_store = false;
};

// How a subcommand uses the configuration (-c FILE, else /etc/postern/postern.yaml).
enum class ConfigUse { kRequired, kOptional, kNone };

// A built-in subcommand: its options are added by `setup`, `body` runs it.
struct Subcommand {
  const char* name;
  const char* help;
  ConfigUse config;
  std::function<void(CLI::App*, Options&)> setup;
  std::function<int(const Options&, const config::Config&, const base::CommonOptions&)> body;
};

sup::Settings to_settings(const config::Config& c, const std::vector<std::string>& sets) {
  sup::Settings s;
  s.config_file = c.file().empty() ? "" : std::filesystem::absolute(c.file()).string();
  s.sets = sets;
  s.user = c.get_string("server.user");
  s.data_dir = c.get_string("server.data_dir");
  s.control_socket = c.get_string("server.control_socket");
  s.stop_timeout = c.get_duration("server.stop_timeout");
  s.log_file = c.get_string("server.log_file");
  s.log_format = base::log_options().format;
  for (const config::Config& l : c.get_maps("listeners")) {
    s.listeners.push_back({l.get_string("name"), l.get_string("address"), l.get_string("mode")});
  }
  return s;
}

int run_supervisor(const Options& o, const config::Config& cfg, const base::CommonOptions& common) {
  sup::Settings settings = to_settings(cfg, common.sets);
  std::string file = settings.config_file;
  std::vector<std::string> sets = common.sets;
  sup::Reloader reload = [file, sets]() -> base::Result<sup::Settings> {
    auto next = config::load(file, sets);
    if (!next) return next.error();
    return to_settings(*next, sets);
  };
  auto st = sup::run(settings, reload, {.notify_fd = o.notify_fd, .program_dir = sup::self_dir()});
  return st ? 0 : base::fail(st.error());
}

std::string socket_path(const Options& o, const config::Config& cfg) {
  return o.socket.empty() ? cfg.get_string("server.control_socket") : o.socket;
}

int status(const Options& o, const config::Config& cfg, const base::CommonOptions&) {
  auto answer = sup::control_request(socket_path(o, cfg), "status");
  if (!answer) return base::fail(answer.error());
  auto st = sup::decode_status(*answer);
  if (!st) return base::fail(st.error());
  if (!base::write_stdout(o.json ? *answer + "\n" : sup::format_status_table(*st))) return 0;
  return st->ready ? 0 : 1;
}

int request(const char* what, const Options& o, const config::Config& cfg) {
  auto answer = sup::control_request(socket_path(o, cfg), what);
  if (!answer) return base::fail(answer.error());
  auto st = sup::decode_ok(*answer);
  return st ? 0 : base::fail(st.error());
}

// Every problem of the configuration and the files it names; 78 when one is an error.
int check(const Options& o, const base::CommonOptions& common) {
  std::string file = common.config_file.empty() ? kDefaultConfig : common.config_file;
  auto findings = admin::check_config(file, common.sets, {.store = !o.no_store});
  (void)base::write_stdout(admin::report_text(findings));
  return admin::has_errors(findings) ? 78 : 0;
}

// Replaces this process with the tool; returns only when it cannot.
int exec_tool(const std::string& name, int argc, char** argv) {
  auto path = sup::find_tool(name, sup::self_dir());
  if (!path) {
    base::log_error(
        base::Error::usage("no such command or tool: " + name + " (postern help lists them)"));
    return 64;
  }
  std::vector<char*> args = {const_cast<char*>(name.c_str())};
  for (int i = 0; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  ::execv(path->c_str(), args.data());
  return base::fail(base::Error::from_errno(errno, "exec " + *path));
}

int help(const Options& o, const CLI::App& app) {
  if (!o.help_topic.empty()) {
    char help_flag[] = "--help";
    char* args[] = {help_flag};
    return exec_tool(o.help_topic.front(), 1, args);
  }
  std::string out = "Usage: postern COMMAND [OPTIONS]   or   postern TOOL [ARGS...]\n\nCommands:\n";
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    std::string name = sub->get_name();
    out += "  " + name + std::string(name.size() < 20 ? 20 - name.size() : 1, ' ') +
           sub->get_description() + "\n";
  }
  out += "\nTools (postern TOOL runs TOOL; TOOL --help for its options):\n";
  for (const sup::ToolInfo& t : sup::list_tools(sup::self_dir())) {
    out += "  " + t.name + std::string(t.name.size() < 20 ? 20 - t.name.size() : 1, ' ') +
           t.summary + "\n";
  }
  (void)base::write_stdout(out);
  return 0;
}

std::vector<Subcommand> subcommands(const CLI::App& app) {
  auto with_socket = [](CLI::App* c, Options& o) {
    c->add_option("--socket", o.socket,
                  "the supervisor's control socket (default: from the configuration)")
        ->type_name("PATH");
  };
  return {
      {"run", "start every configured service and supervise it (until SIGTERM or postern stop)",
       ConfigUse::kRequired,
       [](CLI::App* c, Options& o) {
         c->add_option("--notify-fd", o.notify_fd,
                       "write a newline to FD once every service is ready")
             ->type_name("FD");
       },
       run_supervisor},
      {"status", "show each service's state, pid, uptime and restarts (exit 0: all ready)",
       ConfigUse::kOptional,
       [with_socket](CLI::App* c, Options& o) {
         c->add_flag("--json", o.json, "print the supervisor's JSON answer");
         with_socket(c, o);
       },
       status},
      {"reload", "re-read the configuration and reload every service (as SIGHUP)",
       ConfigUse::kOptional, with_socket,
       [](const Options& o, const config::Config& c, const base::CommonOptions&) {
         return request("reload", o, c);
       }},
      {"stop", "stop every service in order, then the supervisor (as SIGTERM)",
       ConfigUse::kOptional, with_socket,
       [](const Options& o, const config::Config& c, const base::CommonOptions&) {
         return request("stop", o, c);
       }},
      {"help", "list the commands and every Postern tool; help TOOL shows the tool's --help",
       ConfigUse::kNone,
       [](CLI::App* c, Options& o) {
         c->add_option("tool", o.help_topic, "a tool to show the help of")->type_name("TOOL");
       },
       [&app](const Options& o, const config::Config&, const base::CommonOptions&) {
         return help(o, app);
       }},
      {"check", "check the configuration and every file it names, the store and file modes (exit 0 or 78)",
       ConfigUse::kNone,
       [](CLI::App* c, Options& o) {
         c->add_flag("--no-store", o.no_store, "do not try to open the store (a config for another machine)");
       },
       [](const Options& o, const config::Config&, const base::CommonOptions& common) { return check(o, common); }},
      {"config", "config show: the effective configuration, every key with its value or default",
       ConfigUse::kRequired,
       [](CLI::App* c, Options&) {
         c->add_subcommand("show", "print every key with its value or default (YAML that loads again)");
         c->require_subcommand(1);
       },
       [](const Options&, const config::Config& c, const base::CommonOptions&) {
         (void)base::write_stdout(config::effective_yaml(c));
         return 0;
       }},
  };
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "run the Postern mail server from one configuration, and every Postern tool by name"};
  std::vector<Subcommand> subs = subcommands(app);
  // git-style: `postern TOOL ARGS...` for anything that is not a built-in command.
  if (argc >= 2 && argv[1][0] != '-') {
    std::string first = argv[1];
    bool builtin = false;
    for (const Subcommand& s : subs) builtin = builtin || first == s.name;
    if (!builtin) return exec_tool(first, argc - 2, argv + 2);
  }
  app.require_subcommand(1);
  app.fallthrough();  // -c, --set and --log-format also after the subcommand
  Options o;
  std::vector<std::pair<CLI::App*, const Subcommand*>> apps;
  for (const Subcommand& s : subs) {
    CLI::App* c = app.add_subcommand(s.name, s.help);
    s.setup(c, o);
    apps.emplace_back(c, &s);
  }
  config::Config cfg;
  base::CommonOptions common;
  const Subcommand* chosen = nullptr;
  auto load = config::loader(&cfg);
  return base::run_main(
      argc, argv, app, {.name = "postern"},
      [&] { return chosen ? chosen->body(o, cfg, common) : 64; },
      [&](const base::CommonOptions& c) -> base::Status {
        common = c;
        for (auto& [sub, s] : apps) {
          if (sub->parsed()) chosen = s;
        }
        if (!chosen) return {};
        // help, and status/reload/stop given --socket, need no configuration at all.
        if (chosen->config == ConfigUse::kNone) return {};
        if (chosen->config == ConfigUse::kOptional && !o.socket.empty()) return {};
        base::CommonOptions use = c;
        if (use.config_file.empty() && ::access(kDefaultConfig, R_OK) == 0)
          use.config_file = kDefaultConfig;
        if (use.config_file.empty() && chosen->config == ConfigUse::kRequired) {
          return base::Error::config("no configuration: give -c FILE (" +
                                     std::string(kDefaultConfig) + " does not exist)");
        }
        return load(use);
      });
}
