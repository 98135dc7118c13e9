// The shared entry point of every Postern program, and shell completions generated from
// each program's CLI11 definition.
//
// run_main() adds the options every tool has (-c/--config, --set, --log-format, --version,
// and the hidden --completion=SHELL used at build time), parses argv, loads the config
// through the caller's callback (so lib/base stays below lib/config), runs the body and
// maps every failure to the exit-code table:
//   CLI11 usage errors → 64; stray exceptions → 70 with a log line; for tools on the
//   delivery/filter path (ToolSpec::delivery_path) 70 and 78 become 75, because an MTA
//   retries only 75 and bounces the rest.
//
//   int main(int argc, char** argv) {
//     CLI::App app{"print a message's structure"};
//     std::vector<std::string> files;
//     app.add_option("files", files, "messages to read")->type_name("FILE");
//     return postern::base::run_main(argc, argv, app, {.name = "msg-parse"},
//                                    [&] { return parse_all(files); });
//   }
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::base {

struct ToolSpec {
  std::string name;
  bool delivery_path = false;  // run by an MTA: internal/config errors exit 75
};

// Options run_main adds to every tool.
struct CommonOptions {
  std::string config_file;        // -c FILE
  std::vector<std::string> sets;  // --set key=value, repeatable, in order
  std::string log_format = "text";
  bool log_format_given = false;  // --log-format was on the command line
};

using ConfigLoader = std::function<Status(const CommonOptions&)>;
using ToolBody = std::function<int()>;

int run_main(int argc, char** argv, CLI::App& app, const ToolSpec& spec, const ToolBody& body,
             const ConfigLoader& load_config = {});

// Logs `error` and returns its exit code (for bodies that end on an Error).
int fail(const Error& error);

// Writes a program's output to standard output; false once the reader has gone (a
// closed pipe, as in `| head`), so the program can stop quietly.
bool write_stdout(std::string_view s);

// The per-message loop of every filter: each of `files` ("-", or none at all: standard
// input) is read whole and handed to `body` with the name to show ("<stdin>" for "-").
// A file that cannot be read is logged and gives its own exit code; the others are still
// processed. `body` returns its exit status, or nullopt to stop early (standard output
// has gone). The result is the highest status seen.
using InputBody = std::function<std::optional<int>(const std::string& name, std::string& bytes)>;
int for_each_input(const std::vector<std::string>& files, const InputBody& body);

// A completion script for `shell` ("bash", "zsh" or "fish") describing `app`:
// subcommands, long and short options, and option values — files for type names
// containing FILE, directories for DIR, and the words of a {a,b,c} choice list.
Result<std::string> completion_script(const CLI::App& app, const std::string& program,
                                      std::string_view shell);

}  // namespace postern::base
