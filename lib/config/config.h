// The typed configuration: one YAML file (plus an included conf.d/ directory and
// --set overrides) checked against one schema table, turned into typed values.
//
// Every error is reported as `file:line:col: message` and all of them are collected in
// one run: syntax errors, unknown keys (with a "did you mean"), duplicate keys (within
// a mapping and across included files), values of the wrong type, missing required
// keys, and failed `${env:NAME}` / `${file:PATH}` substitutions. Modules never see
// YAML: they take plain option structs built from a Config (see log_options()).
//
//   auto cfg = postern::config::load("/etc/postern/postern.yaml", {"log.level=debug"});
//   if (!cfg) return cfg.error();               // message: one diagnostic per line, code 78
//   std::string host = cfg->get_string("server.hostname");
//   std::chrono::seconds t = cfg->get_duration("dns.timeout");
//   for (const Config& l : cfg->get_maps("listeners")) bind(l.get_string("address"));
//
// In a tool, run_main loads the config through loader():
//
//   postern::config::Config cfg;
//   return run_main(argc, argv, app, {.name = "smtp-listen"}, body,
//                   postern::config::loader(&cfg));
//
// Values as written in YAML:
//   string, path, enum, host:port   get_string()  (paths are made absolute, relative
//                                                  to the directory of the file that
//                                                  set them; --set: the working dir)
//   int 42                           get_int()
//   bool true|false                  get_bool()
//   duration 30s 5m 4h 5d 1h30m      get_duration()
//   size 512K 10M 35MB 1G (×1024)   get_size()    (bytes)
//   list of strings/host:ports       get_list()
//   list of mappings                 get_maps()    (each item is a Config of its own)
// Scalars may contain ${env:NAME}, ${file:PATH} (contents, one trailing newline
// stripped; PATH relative to the file's directory) and $$ for a literal $. A `$` not
// followed by `{` or `$` is kept as is, so password hashes like $y$j9T$... need no escaping.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/cli.h"
#include "base/log.h"
#include "base/result.h"

namespace postern::config {

// One problem found in the configuration. line == 0 means "no position" (a --set
// argument, or a file that could not be read): str() is then "file: message".
struct Diagnostic {
  std::string file;
  int line = 0;  // 1-based
  int col = 0;   // 1-based
  std::string message;

  std::string str() const;
};

// A validated configuration (or one item of a list of mappings). Cheap to copy; immutable.
// Getters take a dotted key from the schema ("log.level"; inside a get_maps() item just
// the field, "address"). Asking for a key that is not in the schema, or with the getter
// of another type, is a programming error: it throws std::logic_error.
class Config {
 public:
  Config();

  const std::string& get_string(std::string_view key) const;  // string, path, enum, host:port
  int64_t get_int(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::chrono::seconds get_duration(std::string_view key) const;
  uint64_t get_size(std::string_view key) const;  // bytes
  const std::vector<std::string>& get_list(std::string_view key) const;
  const std::vector<Config>& get_maps(std::string_view key) const;

  // Where the value came from: "postern.yaml:3:10", "--set log.level=debug" or "default".
  std::string origin(std::string_view key) const;
  bool is_default(std::string_view key) const { return origin(key) == "default"; }

  // Things worth telling the admin that do not stop the program (e.g. a key that has no
  // effect with the chosen store engine). Only set on the top-level Config.
  const std::vector<Diagnostic>& warnings() const;
  // The main file ("" for defaults()), and the files merged in through `include`.
  const std::string& file() const;
  const std::vector<std::string>& included_files() const;

  struct Impl;

 private:
  friend struct ConfigAccess;
  std::shared_ptr<const Impl> impl_;
};

// Loads `path` (empty: no file, only defaults), merges its `include`, applies `sets`
// ("key=value", in order), validates and fills defaults. On failure the Error has code
// ExitCode::kConfig and a message holding every diagnostic, one per line.
base::Result<Config> load(const std::string& path, const std::vector<std::string>& sets = {});

// Like load(), but returns the diagnostics themselves (empty on success: then *out is set).
std::vector<Diagnostic> load_diagnostics(const std::string& path,
                                         const std::vector<std::string>& sets, Config* out);

// Every key at its default.
Config defaults();

// The log options the config asks for (program and file left at their defaults).
base::LogOptions log_options(const Config& config);

// A ConfigLoader for run_main: loads -c FILE (or the defaults when no -c is given) with
// the --set overrides, stores the result in *out, then reconfigures logging.
// Log format precedence: --log-format on the command line wins; otherwise log.format
// applies when a config file was given or log.format was --set, so a tool run by hand
// without -c keeps logging text to the terminal. log.level always applies. Warnings are
// logged.
base::ConfigLoader loader(Config* out);

// The postern.yaml(5) reference (scdoc source), generated from the schema table.
std::string schema_scdoc();

// The effective configuration, every key with its value or default, as YAML that
// load() accepts again (the `include` line is shown as a comment: its files are
// already merged in). For `postern config show`.
std::string effective_yaml(const Config& config);

// "30s", "5m", "4h", "5d", "1h30m" (what a duration key accepts); nullopt otherwise.
std::optional<std::chrono::seconds> parse_duration_text(std::string_view s);

}  // namespace postern::config
