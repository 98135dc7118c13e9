// msg-parse: print the MIME structure of messages as JSON, or pick pieces out of them
// (header values, the text, one part, the attachments). See msg-parse(1).
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "base/cli.h"
#include "base/fd.h"
#include "base/log.h"
#include "config/config.h"
#include "mail/attachment.h"
#include "mail/message.h"
#include "mail/message_json.h"

namespace {

using postern::base::Error;
using postern::base::ExitCode;
using postern::mail::Message;

struct Options {
  std::vector<std::string> files;
  std::vector<std::string> headers;
  bool text = false;
  bool pretty = false;
  bool json = false;
  std::string part;
  bool raw = false;
  std::string attachments_dir;
};

// The worst exit code wins: any failure beats success, and higher codes beat lower ones.
int report(const std::string& file, const Error& e) {
  postern::base::log_error(e.with_context(file));
  return postern::base::to_int(e.code());
}

int handle(const Options& o, const std::string& file, const Message& m, bool many) {
  std::string prefix = many ? file + ": " : "";
  if (!o.headers.empty()) {
    const auto& root = m.root();
    for (const auto& name : o.headers) {
      for (const auto& f : m.headers(root)) {
        if (!postern::mail::iequals(m.field_name(root, f), name)) continue;
        std::string v = postern::mail::decoded_header_value(name, m.field_value(root, f));
        if (!postern::base::write_stdout(prefix + v + "\n")) return 0;
      }
    }
  }
  if (o.text) {
    std::string t = m.extract_text();
    if (!t.empty() && t.back() != '\n') t += '\n';
    if (!postern::base::write_stdout(t)) return 0;
  }
  if (!o.part.empty()) {
    const postern::mail::Part* p = m.find(o.part);
    if (p == nullptr) {
      return report(file, Error::usage("no part " + o.part + " (see the ids in the JSON)"));
    }
    if (!postern::base::write_stdout(o.raw ? std::string(m.raw_part(*p)) : m.decoded_body(*p)))
      return 0;
  }
  if (!o.attachments_dir.empty()) {
    for (uint32_t i : m.attachments()) {
      const auto& p = m.part(i);
      std::string name = postern::mail::safe_filename(m.filename(p), "part-" + p.id + ".bin");
      auto path = postern::mail::save_file(o.attachments_dir, name, m.decoded_body(p));
      if (!path) return report(file, path.error());
      if (!postern::base::write_stdout(prefix + *path + "\n")) return 0;
    }
  }
  bool picked = !o.headers.empty() || o.text || !o.part.empty() || !o.attachments_dir.empty();
  if (!picked || o.json) {
    std::string doc = postern::mail::message_json(m, {.file = file, .pretty = o.pretty});
    if (!postern::base::write_stdout(doc + "\n")) return 0;
  }
  return 0;
}

int run(Options& o) {
  if (o.raw && o.part.empty()) {
    return report("msg-parse", Error::usage("--raw needs --part ID"));
  }
  if (!o.attachments_dir.empty()) {
    struct stat st {};
    if (::stat(o.attachments_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return report(o.attachments_dir, Error::usage("not a directory"));
    }
  }
  bool many = o.files.size() > 1;
  return postern::base::for_each_input(o.files, [&](const std::string& shown, std::string& bytes) {
    auto msg = Message::parse(std::move(bytes));
    return std::optional<int>(msg ? handle(o, shown, *msg, many) : report(shown, msg.error()));
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"print the MIME structure of messages as JSON, or extract their parts"};
  Options o;
  app.add_option("files", o.files, "messages to read ('-' or none: standard input)")
      ->type_name("FILE");
  app.add_option("-H,--header", o.headers,
                 "print the decoded value(s) of this header field, one per line (repeatable)")
      ->type_name("NAME")
      ->allow_extra_args(false);
  app.add_flag("-t,--text", o.text, "print the text: text/plain preferred, else HTML as text");
  app.add_option("-p,--part", o.part, "write the decoded content of the part with this id")
      ->type_name("ID");
  app.add_flag("-r,--raw", o.raw, "with --part: write the part's raw bytes (headers and body)");
  app.add_option("-a,--attachments", o.attachments_dir,
                 "save the attachments into DIR (safe names, never overwriting)")
      ->type_name("DIR");
  app.add_flag("-j,--json", o.json, "also print the JSON structure with the options above");
  app.add_flag("--pretty", o.pretty, "indent the JSON (default: one object per line)");
  postern::config::Config config;
  return postern::base::run_main(
      argc, argv, app, {.name = "msg-parse"}, [&] { return run(o); },
      postern::config::loader(&config));
}
