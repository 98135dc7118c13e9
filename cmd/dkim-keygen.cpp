// dkim-keygen: make a DKIM key pair (RSA or Ed25519), write the private key (mode 0600)
// and print the DNS TXT record to publish. See dkim-keygen(1).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>

#include <CLI/CLI.hpp>
#include <string>

#include "admin/dns_records.h"
#include "auth/dkim.h"
#include "base/cli.h"
#include "base/fd.h"
#include "base/log.h"
#include "config/config.h"

namespace {

namespace dkim = postern::auth::dkim;
using postern::base::Error;

struct Options {
  std::string type = "rsa";
  int bits = 2048;
  CLI::Option* bits_option = nullptr;
  std::string domain, selector, out;
  bool force = false;
};

// The record to publish, as postern-dns(8) prints it too.
std::string txt_record(const Options& o, const dkim::PrivateKey& key) {
  namespace admin = postern::admin;
  return o.selector + "._domainkey." + o.domain + ". IN TXT " +
         admin::quoted_txt(admin::dkim_key_record(key.is_ed25519(), key.public_key_record())) + "\n";
}

postern::base::Status write_private(const std::string& path, const std::string& pem, bool force) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
  int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0 && errno == EEXIST) return Error::usage(path + " exists (--force overwrites it)");
  if (fd < 0) return Error::from_errno(errno, "cannot create " + path);
  postern::base::UniqueFd guard(fd);
  if (::fchmod(fd, 0600) != 0) return Error::from_errno(errno, "chmod " + path);
  if (auto st = postern::base::write_all(fd, pem); !st) return st.error();
  if (::fsync(fd) != 0) return Error::from_errno(errno, "fsync " + path);
  return {};
}

int run(Options& o) {
  bool ed = o.type == "ed25519";
  if (!ed) {
    bool explicit_bits = o.bits_option->count() > 0;
    if (o.bits < 1024) {
      return postern::base::fail(
          Error::usage("RSA keys under 1024 bits are never accepted (RFC 8301 3.2)"));
    }
    if (o.bits < 2048 && !explicit_bits) {
      return postern::base::fail(Error::usage("RSA keys under 2048 bits need an explicit --bits"));
    }
    if (o.bits > 8192) return postern::base::fail(Error::usage("--bits: at most 8192"));
    if (o.bits < 2048) {
      postern::base::log_warn("dkim-keygen", {{"warning", "RSA key under 2048 bits"},
                                              {"bits", std::to_string(o.bits)}});
    }
  }
  auto key = dkim::generate_key(ed, o.bits);
  if (!key) return postern::base::fail(key.error());
  if (o.out.empty()) o.out = o.selector + ".private";
  if (auto st = write_private(o.out, key->to_pem(), o.force); !st) {
    return postern::base::fail(st.error());
  }
  if (!postern::base::write_all(STDOUT_FILENO, txt_record(o, *key)).ok()) return 0;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"make a DKIM key pair and print the DNS TXT record to publish"};
  Options o;
  app.add_option("-t,--type", o.type, "key type (default rsa)")
      ->check(CLI::IsMember({"rsa", "ed25519"}));
  o.bits_option = app.add_option("-b,--bits", o.bits,
                                 "RSA modulus size (default 2048; 1024..2047 only when given)")
                      ->type_name("BITS");
  app.add_option("-d,--domain", o.domain, "signing domain")->required()->type_name("DOMAIN");
  app.add_option("-s,--selector", o.selector, "selector")->required()->type_name("SELECTOR");
  app.add_option("-o,--out", o.out, "private key file (default SELECTOR.private; mode 0600)")
      ->type_name("FILE");
  app.add_flag("-f,--force", o.force, "overwrite an existing key file");
  postern::config::Config config;
  return postern::base::run_main(
      argc, argv, app, {.name = "dkim-keygen"}, [&] { return run(o); },
      postern::config::loader(&config));
}
