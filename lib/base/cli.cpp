#include "base/cli.h"

#include <unistd.h>

#include <algorithm>
#include <exception>
#include <iostream>

#include "base/fd.h"
#include "base/log.h"

#ifndef POSTERN_VERSION
#define POSTERN_VERSION "0.0.0"
#endif

namespace postern::base {
namespace {

// ---- completion generation ----

enum class ValueKind { kNone, kFree, kFile, kDir, kChoice };

struct OptionDesc {
  std::vector<std::string> longs;   // without "--"
  std::vector<std::string> shorts;  // without "-"
  std::string help;
  ValueKind kind = ValueKind::kNone;
  std::vector<std::string> choices;
};

struct CommandDesc {
  std::string name;  // "" for the top level
  std::string help;
  std::vector<OptionDesc> options;
  ValueKind positional = ValueKind::kNone;
  std::vector<CommandDesc> subcommands;
};

ValueKind kind_of(const std::string& type, std::vector<std::string>& choices) {
  auto open = type.find('{');
  auto close = type.find('}', open == std::string::npos ? 0 : open);
  if (open != std::string::npos && close != std::string::npos) {
    std::string list = type.substr(open + 1, close - open - 1);
    size_t start = 0;
    while (start <= list.size()) {
      auto comma = list.find(',', start);
      std::string item = list.substr(start, comma - start);
      while (!item.empty() && item.front() == ' ') item.erase(0, 1);
      if (!item.empty()) choices.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return ValueKind::kChoice;
  }
  if (type.find("DIR") != std::string::npos) return ValueKind::kDir;
  if (type.find("FILE") != std::string::npos || type.find("PATH") != std::string::npos) {
    return ValueKind::kFile;
  }
  return ValueKind::kFree;
}

CommandDesc describe(const CLI::App& app, std::string name) {
  CommandDesc d;
  d.name = std::move(name);
  d.help = app.get_description();
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_group().empty()) continue;  // hidden
    // --help and --version are left out so that a prefix like --he completes to the
    // program's own option (--header); both are in every man page.
    if (opt == app.get_help_ptr() || opt == app.get_help_all_ptr() ||
        opt == app.get_version_ptr()) {
      continue;
    }
    std::vector<std::string> choices;
    // Flags (--help, --text) expect no items; everything else takes a value.
    ValueKind kind = opt->get_items_expected_max() == 0 ? ValueKind::kNone
                                                         : kind_of(opt->get_type_name(), choices);
    if (opt->get_positional() && opt->get_lnames().empty() && opt->get_snames().empty()) {
      d.positional = kind;
      continue;
    }
    OptionDesc o;
    o.longs = opt->get_lnames();
    o.shorts = opt->get_snames();
    o.help = opt->get_description();
    o.kind = kind;
    o.choices = std::move(choices);
    d.options.push_back(std::move(o));
  }
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_group().empty()) continue;
    d.subcommands.push_back(describe(*sub, sub->get_name()));
  }
  return d;
}

std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string ident(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

// bash: one function per command level; the top-level function finds the subcommand.
void bash_level(std::string& out, const std::string& fn, const CommandDesc& c) {
  std::vector<std::string> words;
  for (const auto& o : c.options) {
    for (const auto& l : o.longs) words.push_back("--" + l);
    for (const auto& s : o.shorts) words.push_back("-" + s);
  }
  out += fn + "() {\n  local cur=\"$1\" prev=\"$2\"\n  case \"$prev\" in\n";
  for (const auto& o : c.options) {
    if (o.kind == ValueKind::kNone) continue;
    std::vector<std::string> names;
    for (const auto& l : o.longs) names.push_back("--" + l);
    for (const auto& s : o.shorts) names.push_back("-" + s);
    out += "    " + join(names, "|") + ")\n      ";
    switch (o.kind) {
      case ValueKind::kFile: out += "COMPREPLY=($(compgen -f -- \"$cur\"))"; break;
      case ValueKind::kDir: out += "COMPREPLY=($(compgen -d -- \"$cur\"))"; break;
      case ValueKind::kChoice:
        out += "COMPREPLY=($(compgen -W " + sh_quote(join(o.choices, " ")) + " -- \"$cur\"))";
        break;
      default: out += "COMPREPLY=()"; break;
    }
    out += "\n      return 0 ;;\n";
  }
  out += "  esac\n  if [[ \"$cur\" == -* ]]; then\n    COMPREPLY=($(compgen -W " +
         sh_quote(join(words, " ")) + " -- \"$cur\"))\n    return 0\n  fi\n";
  if (!c.subcommands.empty()) {
    std::vector<std::string> subs;
    for (const auto& s : c.subcommands) subs.push_back(s.name);
    out += "  COMPREPLY=($(compgen -W " + sh_quote(join(subs, " ")) + " -- \"$cur\"))\n";
  } else if (c.positional == ValueKind::kFile) {
    out += "  COMPREPLY=($(compgen -f -- \"$cur\"))\n";
  } else if (c.positional == ValueKind::kDir) {
    out += "  COMPREPLY=($(compgen -d -- \"$cur\"))\n";
  }
  out += "}\n";
  for (const auto& s : c.subcommands) bash_level(out, fn + "_" + ident(s.name), s);
}

std::string bash_script(const CommandDesc& top, const std::string& program) {
  std::string fn = "_postern_" + ident(program);
  std::string out = "# bash completion for " + program + " (generated; do not edit)\n";
  bash_level(out, fn + "_level", top);
  out += fn + "() {\n  local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"\"\n"
         "  (( COMP_CWORD > 0 )) && prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
         "  local level=" + fn + "_level i\n"
         "  for (( i = 1; i < COMP_CWORD; i++ )); do\n"
         "    case \"$level:${COMP_WORDS[i]}\" in\n";
  // Flatten the subcommand tree into "level:word) level=next" transitions.
  std::function<void(const std::string&, const CommandDesc&)> walk =
      [&](const std::string& f, const CommandDesc& c) {
        for (const auto& s : c.subcommands) {
          out += "      " + f + ":" + s.name + ") level=" + f + "_" + ident(s.name) + " ;;\n";
          walk(f + "_" + ident(s.name), s);
        }
      };
  walk(fn + "_level", top);
  out += "    esac\n  done\n  \"$level\" \"$cur\" \"$prev\"\n}\n";
  out += "complete -F " + fn + " " + program + "\n";
  return out;
}

std::string zsh_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '[' || c == ']' || c == ':' || c == '\\') out += '\\';
    if (c == '\'') {
      out += "'\\''";
      continue;
    }
    out += c;
  }
  return out;
}

void zsh_level(std::string& out, const std::string& fn, const CommandDesc& c) {
  out += fn + "() {\n  _arguments -s -S \\\n";
  for (const auto& o : c.options) {
    std::vector<std::string> names;
    for (const auto& l : o.longs) names.push_back("--" + l);
    for (const auto& s : o.shorts) names.push_back("-" + s);
    std::string action;
    switch (o.kind) {
      case ValueKind::kNone: break;
      case ValueKind::kFile: action = ":file:_files"; break;
      case ValueKind::kDir: action = ":directory:_files -/"; break;
      case ValueKind::kChoice: action = ":value:(" + join(o.choices, " ") + ")"; break;
      case ValueKind::kFree: action = ":value:"; break;
    }
    std::string spec = names.size() > 1 ? "(" + join(names, " ") + ")'{" + join(names, ",") +
                                              "}'"
                                        : names[0];
    out += "    '" + spec + "[" + zsh_escape(o.help) + "]" + action + "' \\\n";
  }
  if (!c.subcommands.empty()) {
    out += "    '1:command:->cmds' '*::arg:->args'\n  case $state in\n    cmds)\n"
           "      local -a cmds; cmds=(\n";
    for (const auto& s : c.subcommands) {
      out += "        '" + s.name + ":" + zsh_escape(s.help) + "'\n";
    }
    out += "      ); _describe command cmds ;;\n    args)\n      case $words[1] in\n";
    for (const auto& s : c.subcommands) {
      out += "        " + s.name + ") " + fn + "_" + ident(s.name) + " ;;\n";
    }
    out += "      esac ;;\n  esac\n}\n";
  } else {
    if (c.positional == ValueKind::kFile) out += "    '*:file:_files'\n";
    else if (c.positional == ValueKind::kDir) out += "    '*:directory:_files -/'\n";
    else out += "    '*:argument:'\n";
    out += "}\n";
  }
  for (const auto& s : c.subcommands) zsh_level(out, fn + "_" + ident(s.name), s);
}

std::string zsh_script(const CommandDesc& top, const std::string& program) {
  std::string fn = "_" + ident(program);
  std::string out = "#compdef " + program + "\n# zsh completion (generated; do not edit)\n";
  zsh_level(out, fn, top);
  out += fn + " \"$@\"\n";
  return out;
}

void fish_level(std::string& out, const std::string& program, const std::string& cond,
                const CommandDesc& c) {
  std::string base = "complete -c " + program + (cond.empty() ? "" : " -n " + sh_quote(cond));
  for (const auto& s : c.subcommands) {
    std::string sub_cond = cond.empty() ? "__fish_use_subcommand" : cond;
    out += "complete -c " + program + " -n " + sh_quote(sub_cond) + " -f -a " +
           sh_quote(s.name) + " -d " + sh_quote(s.help) + "\n";
  }
  for (const auto& o : c.options) {
    std::string line = base;
    for (const auto& l : o.longs) line += " -l " + l;
    for (const auto& s : o.shorts) line += " -s " + s;
    switch (o.kind) {
      case ValueKind::kNone: break;
      case ValueKind::kFile: line += " -r -F"; break;
      case ValueKind::kDir: line += " -r -f -a '(__fish_complete_directories)'"; break;
      case ValueKind::kChoice: line += " -r -f -a " + sh_quote(join(o.choices, " ")); break;
      case ValueKind::kFree: line += " -r -f"; break;
    }
    line += " -d " + sh_quote(o.help);
    out += line + "\n";
  }
  for (const auto& s : c.subcommands) {
    fish_level(out, program, "__fish_seen_subcommand_from " + s.name, s);
  }
}

std::string fish_script(const CommandDesc& top, const std::string& program) {
  std::string out = "# fish completion for " + program + " (generated; do not edit)\n";
  fish_level(out, program, "", top);
  return out;
}

}  // namespace

Result<std::string> completion_script(const CLI::App& app, const std::string& program,
                                      std::string_view shell) {
  CommandDesc top = describe(app, "");
  if (shell == "bash") return bash_script(top, program);
  if (shell == "zsh") return zsh_script(top, program);
  if (shell == "fish") return fish_script(top, program);
  return Error::usage("unknown shell for --completion: " + std::string(shell));
}

bool write_stdout(std::string_view s) { return write_all(STDOUT_FILENO, s).ok(); }

int for_each_input(const std::vector<std::string>& files, const InputBody& body) {
  static const std::vector<std::string> kStdin = {"-"};
  int rc = 0;
  for (const auto& file : files.empty() ? kStdin : files) {
    auto bytes = read_file(file);
    if (!bytes) {
      log_error(bytes.error());
      rc = std::max(rc, to_int(bytes.error().code()));
      continue;
    }
    std::optional<int> status = body(file == "-" ? "<stdin>" : file, *bytes);
    if (!status) break;
    rc = std::max(rc, *status);
  }
  return rc;
}

int fail(const Error& error) {
  log_error(error);
  return to_int(error.code());
}

int run_main(int argc, char** argv, CLI::App& app, const ToolSpec& spec, const ToolBody& body,
             const ConfigLoader& load_config) {
  CommonOptions common;
  std::string completion;
  app.name(spec.name);
  app.set_version_flag("--version", std::string(POSTERN_VERSION));
  app.add_option("-c,--config", common.config_file, "configuration file (YAML)")
      ->type_name("FILE")
      ->group("Common options");
  app.add_option("--set", common.sets, "override one configuration key (key=value)")
      ->type_name("KEY=VALUE")
      ->group("Common options");
  CLI::Option* log_format = app.add_option("--log-format", common.log_format, "log line format")
      ->check(CLI::IsMember({"text", "logfmt", "json"}))
      ->group("Common options");
  app.add_option("--completion", completion, "print a shell completion script")
      ->group("");  // handled before parsing, above; declared so --help stays accurate

  auto finish = [&](int rc) {
    if (spec.delivery_path && (rc == to_int(ExitCode::kSoftware) ||
                               rc == to_int(ExitCode::kConfig))) {
      return to_int(ExitCode::kTempFail);
    }
    return rc;
  };

  log_configure({.format = LogFormat::kText, .program = spec.name});
  // --completion SHELL is answered before parsing: a program with required arguments
  // must still describe itself at build time.
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == "--completion") {
      auto script = completion_script(app, spec.name, argv[i + 1]);
      if (!script) return fail(script.error());
      std::cout << *script;
      return 0;
    }
  }
  try {
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      int rc = app.exit(e);  // prints help/version to stdout, errors to stderr
      return rc == 0 ? 0 : to_int(ExitCode::kUsage);
    }
    common.log_format_given = log_format->count() > 0;
    log_configure({.format = *parse_log_format(common.log_format), .program = spec.name});
    if (load_config) {
      if (auto st = load_config(common); !st) return finish(fail(st.error()));
    }
    return finish(body());
  } catch (const std::exception& e) {
    log_error(Error::internal(std::string("unexpected exception: ") + e.what()));
  } catch (...) {
    log_error(Error::internal("unexpected exception"));
  }
  return finish(to_int(ExitCode::kSoftware));
}

}  // namespace postern::base
