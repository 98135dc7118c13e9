// dkim-sign: sign messages with one or more DKIM keys (RFC 6376; RSA-SHA256 and
// Ed25519-SHA256, RFC 8463) and prepend the DKIM-Signature fields. See dkim-sign(1).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <ctime>
#include <string>
#include <vector>

#include "auth/dkim.h"
#include "base/cli.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/log.h"
#include "config/config.h"
#include "mail/writer.h"

namespace {

namespace dkim = postern::auth::dkim;
using postern::base::Error;

struct Options {
  std::string domain, selector, key;
  std::vector<std::string> signs;  // D:S:FILE
  std::string headers;
  std::string canon = "relaxed/relaxed";
  std::string identity;
  int64_t expire = 0;
  int64_t timestamp = -1;
  bool body_length = false;
  bool headers_only = false;
  std::string output_dir;
  bool in_place = false;
  std::vector<std::string> files;
};

// Where a signed message goes: standard output (""), or with --output-dir / --in-place a
// file of its own. Two inputs with one base name would overwrite each other: refused.
std::string destination(const Options& o, const std::string& file) {
  if (o.in_place) return file;
  if (o.output_dir.empty()) return "";
  return o.output_dir + "/" + file.substr(file.rfind('/') + 1);
}

postern::base::Status check_destinations(const Options& o) {
  if (o.output_dir.empty() && !o.in_place) return {};
  if (o.headers_only) return Error::usage("--headers-only prints; it does not write files");
  if (!o.output_dir.empty() && o.in_place) {
    return Error::usage("--output-dir and --in-place exclude each other");
  }
  if (o.files.empty()) return Error::usage("--output-dir and --in-place need files");
  std::vector<std::string> seen;
  for (const auto& f : o.files) {
    if (f == "-") return Error::usage("--output-dir and --in-place need files, not '-'");
    std::string dest = destination(o, f);
    if (std::find(seen.begin(), seen.end(), dest) != seen.end()) {
      return Error::usage("two inputs would both be written to " + dest);
    }
    seen.push_back(dest);
  }
  return {};
}

struct Signer {
  std::string domain, selector;
  dkim::PrivateKey key;
};

postern::base::Result<Signer> load_signer(std::string domain, std::string selector,
                                          const std::string& file) {
  auto text = postern::base::read_file(file);
  if (!text) return Error::config("--key " + file + ": " + text.error().message());
  auto key = dkim::load_private_key(*text);
  if (!key) return Error::config("--key " + file + ": " + key.error().message());
  return Signer{std::move(domain), std::move(selector), *key};
}

postern::base::Result<std::vector<Signer>> signers(const Options& o) {
  std::vector<Signer> out;
  if (!o.key.empty() || !o.domain.empty() || !o.selector.empty()) {
    if (o.key.empty() || o.domain.empty() || o.selector.empty()) {
      return Error::usage("--domain, --selector and --key go together");
    }
    auto s = load_signer(o.domain, o.selector, o.key);
    if (!s) return s.error();
    out.push_back(std::move(*s));
  }
  for (const auto& spec : o.signs) {
    size_t a = spec.find(':'), b = a == std::string::npos ? a : spec.find(':', a + 1);
    if (b == std::string::npos) return Error::usage("--sign wants DOMAIN:SELECTOR:KEYFILE");
    auto s = load_signer(spec.substr(0, a), spec.substr(a + 1, b - a - 1), spec.substr(b + 1));
    if (!s) return s.error();
    out.push_back(std::move(*s));
  }
  if (out.empty()) return Error::usage("no key: give --domain/--selector/--key or --sign");
  return out;
}

int run(const Options& o) {
  auto list = signers(o);
  if (!list) return postern::base::fail(list.error());
  dkim::SignOptions base;
  size_t slash = o.canon.find('/');
  std::string hc = o.canon.substr(0, slash),
              bc = slash == std::string::npos ? "simple" : o.canon.substr(slash + 1);
  for (const auto& c : {hc, bc}) {
    if (c != "simple" && c != "relaxed") {
      return postern::base::fail(Error::usage("--canon: simple or relaxed, as HEADER/BODY"));
    }
  }
  base.header_canon = hc == "simple" ? dkim::Canon::kSimple : dkim::Canon::kRelaxed;
  base.body_canon = bc == "simple" ? dkim::Canon::kSimple : dkim::Canon::kRelaxed;
  if (!o.headers.empty()) {
    std::string_view h = o.headers;
    while (true) {
      size_t c = h.find(':');
      if (!h.substr(0, c).empty()) base.headers.emplace_back(h.substr(0, c));
      if (c == std::string_view::npos) break;
      h.remove_prefix(c + 1);
    }
  }
  base.identity = o.identity;
  base.write_body_length = o.body_length;
  base.timestamp = o.timestamp >= 0 ? o.timestamp : static_cast<int64_t>(std::time(nullptr));
  base.expire_after = o.expire;

  if (auto st = check_destinations(o); !st) return postern::base::fail(st.error());
  return postern::base::for_each_input(
      o.files, [&](const std::string& name, std::string& bytes) -> std::optional<int> {
        std::string fields;
        for (const auto& s : *list) {
          dkim::SignOptions so = base;
          so.domain = s.domain;
          so.selector = s.selector;
          so.key = &s.key;
          auto f = dkim::sign(bytes, so);
          if (!f) {
            postern::base::log_error(f.error().with_context(name));
            return postern::base::to_int(f.error().code());
          }
          fields += *f;
        }
        fields = postern::mail::match_line_ending(fields, bytes);
        if (std::string dest = destination(o, name); !dest.empty()) {
          // Written atomically: a reader sees the old file or the whole signed one.
          auto st =
              postern::base::write_file_atomic(postern::base::real_fs(), dest, fields + bytes);
          if (!st) {
            postern::base::log_error(st.error());
            return postern::base::to_int(st.error().code());
          }
          return 0;
        }
        if (!postern::base::write_stdout(o.headers_only ? fields : fields + bytes))
          return std::nullopt;
        return 0;
      });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sign messages with DKIM (RFC 6376, RFC 8463) and prepend DKIM-Signature"};
  Options o;
  app.add_option("-d,--domain", o.domain, "signing domain (d=)")->type_name("DOMAIN");
  app.add_option("-s,--selector", o.selector, "selector (s=)")->type_name("SELECTOR");
  app.add_option("-k,--key", o.key, "private key: PEM (RSA or Ed25519) or a base64 Ed25519 seed")
      ->type_name("FILE");
  app.add_option("--sign", o.signs,
                 "one more signature, DOMAIN:SELECTOR:KEYFILE (repeatable; first is topmost)")
      ->type_name("D:S:FILE")
      ->allow_extra_args(false);
  app.add_option("--headers", o.headers,
                 "header fields to sign, colon-separated, bottom-up; repeat a name to oversign "
                 "(default: a recommended list, From/To/Subject/Date/... oversigned)")
      ->type_name("H1:H2");
  app.add_option("--canon", o.canon, "canonicalization HEADER/BODY (default relaxed/relaxed)")
      ->type_name("C/C");
  app.add_option("--identity", o.identity, "the i= identity (default: none written)")
      ->type_name("ID");
  app.add_option("--expire", o.expire, "add x= this many seconds after t=")->type_name("SECONDS");
  app.add_option("--timestamp", o.timestamp, "t= value (Unix seconds; default now)")
      ->type_name("UNIX");
  app.add_flag("--body-length", o.body_length, "write l= (the signed body length)");
  app.add_flag("--headers-only", o.headers_only, "print only the DKIM-Signature fields");
  app.add_option("-o,--output-dir", o.output_dir, "write each signed message to DIR/<its name>")
      ->type_name("DIR");
  app.add_flag("-i,--in-place", o.in_place, "replace each file by its signed message");
  app.add_option("files", o.files, "messages to read ('-': standard input)")->type_name("FILE");
  postern::config::Config config;
  return postern::base::run_main(
      argc, argv, app, {.name = "dkim-sign", .delivery_path = true}, [&] { return run(o); },
      postern::config::loader(&config));
}
