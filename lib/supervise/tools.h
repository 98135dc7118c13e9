// Finding Postern's programs: the services the supervisor starts and the tools that
// `postern TOOL ARGS…` runs git-style. Programs are looked up beside the running binary
// first (the build tree, or the install's bin directory), then on PATH.
//
//   std::string dir = self_dir();                       // directory of /proc/self/exe
//   auto smtp = find_program("smtp-listen", dir);       // dir/smtp-listen, else PATH
//   auto tool = find_tool("dkim-verify", dir);          // dir/NAME, dir/postern-NAME, PATH
//   for (const ToolInfo& t : list_tools(dir)) ...       // for `postern help`
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace postern::supervise {

// The directory of the running executable (from /proc/self/exe); "" when unknown.
std::string self_dir();

// An executable `name` in `dir`, else on PATH; nullopt when neither has one.
std::optional<std::string> find_program(std::string_view name, const std::string& dir);

// The program `postern NAME` runs: dir/NAME, dir/postern-NAME, then NAME and postern-NAME
// on PATH. Names with '/' or starting with '-' are never looked up.
std::optional<std::string> find_tool(std::string_view name, const std::string& dir);

// Postern's tools by name. A directory like /usr/bin holds many other programs, so `postern
// help` lists the executables beside postern that are in this table or named postern-*.
// Add a row with every new cmd/ program.
std::span<const std::string_view> known_tools();

struct ToolInfo {
  std::string name;
  std::string path;
  std::string summary;  // the first line of its --help
};

// The tools in `dir` (see known_tools()), sorted by name, each with the first line of
// its --help (run with a short timeout).
std::vector<ToolInfo> list_tools(const std::string& dir);

}  // namespace postern::supervise
