// postern check: the configuration and everything it points at.
#include "admin/check.h"

#include <grp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>

#include "auth/dkim.h"
#include "base/fs.h"
#include "config/config.h"
#include "config/delivery.h"
#include "config/smtp.h"
#include "config/store.h"
#include "smtp/delivery.h"
#include "smtp/server.h"

namespace postern::admin {

namespace {

struct Checker {
  const config::Config& cfg;
  std::vector<Finding> out;

  void error(std::string where, std::string message) {
    out.push_back({Finding::kError, std::move(where), std::move(message)});
  }
  void warn(std::string where, std::string message) {
    out.push_back({Finding::kWarning, std::move(where), std::move(message)});
  }
  // An Error from a settings builder: "file:line:col: message" already, or bare.
  void error_from(const base::Error& e, const std::string& what) {
    std::string m = e.message();
    size_t nl;
    while ((nl = m.find('\n')) != std::string::npos) m[nl] = ' ';
    error("", what.empty() ? m : what + ": " + m);
  }

  std::optional<std::string> read(const std::string& where, const std::string& path, const std::string& what) {
    auto text = base::real_fs().read(path);
    if (!text) {
      error(where, what + " " + path + ": " + text.error().message());
      return std::nullopt;
    }
    return std::move(*text);
  }

  // ---- step 3: the files ----

  void tls_files() {
    const std::string& cert_path = cfg.get_string("tls.certificate");
    const std::string& key_path = cfg.get_string("tls.key");
    if (cert_path.empty() && key_path.empty()) return;
    if (cert_path.empty() || key_path.empty()) {
      error(cfg.origin(cert_path.empty() ? "tls.key" : "tls.certificate"),
            "tls.certificate and tls.key go together");
      return;
    }
    auto cert_pem = read(cfg.origin("tls.certificate"), cert_path, "tls.certificate");
    auto key_pem = read(cfg.origin("tls.key"), key_path, "tls.key");
    if (!cert_pem || !key_pem) return;
    std::unique_ptr<BIO, decltype(&BIO_free)> cb(BIO_new_mem_buf(cert_pem->data(), static_cast<int>(cert_pem->size())), BIO_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr), X509_free);
    if (!cert) {
      error(cfg.origin("tls.certificate"), "tls.certificate " + cert_path + " holds no PEM certificate");
      return;
    }
    std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())), BIO_free);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr),
                                                            EVP_PKEY_free);
    if (!key) {
      error(cfg.origin("tls.key"), "tls.key " + key_path + " holds no PEM private key");
    } else if (X509_check_private_key(cert.get(), key.get()) != 1) {
      error(cfg.origin("tls.key"), "tls.key " + key_path + " does not match tls.certificate " + cert_path);
    }
    time_t now = std::time(nullptr);
    if (X509_cmp_time(X509_get0_notAfter(cert.get()), &now) < 0) {
      error(cfg.origin("tls.certificate"), "tls.certificate " + cert_path + " has expired");
    } else {
      time_t soon = now + 14 * 86400;
      if (X509_cmp_time(X509_get0_notAfter(cert.get()), &soon) < 0) {
        warn(cfg.origin("tls.certificate"), "tls.certificate " + cert_path + " expires within 14 days");
      }
    }
    if (X509_cmp_time(X509_get0_notBefore(cert.get()), &now) > 0) {
      error(cfg.origin("tls.certificate"), "tls.certificate " + cert_path + " is not valid yet");
    }
  }

  void dkim_keys() {
    for (const config::Config& k : cfg.get_maps("delivery.dkim")) {
      auto pem = read(k.origin("key"), k.get_string("key"), "DKIM key");
      if (!pem) continue;
      if (auto key = auth::dkim::load_private_key(*pem); !key) {
        error(k.origin("key"), "DKIM key " + k.get_string("key") + ": " + key.error().message());
      }
    }
  }

  void plain_files() {
    for (const char* key : {"dns.trust_anchor", "smtp.psl", "delivery.tls_ca_file"}) {
      const std::string& path = cfg.get_string(key);
      if (!path.empty()) (void)read(cfg.origin(key), path, key);
    }
  }

  // ---- step 5: modes ----

  struct User {
    std::string name;
    uid_t uid = 0;
    std::vector<gid_t> gids;
  };
  std::optional<User> service_user() {
    const std::string& name = cfg.get_string("server.user");
    passwd* pw = getpwnam(name.c_str());
    if (!pw) {
      error(cfg.origin("server.user"), "server.user " + name + " does not exist (postern run starts the services as it)");
      return std::nullopt;
    }
    User u{name, pw->pw_uid, {}};
    int n = 64;
    u.gids.resize(static_cast<size_t>(n));
    if (getgrouplist(name.c_str(), pw->pw_gid, u.gids.data(), &n) < 0) {
      u.gids.resize(static_cast<size_t>(n));
      getgrouplist(name.c_str(), pw->pw_gid, u.gids.data(), &n);
    }
    u.gids.resize(static_cast<size_t>(std::max(n, 0)));
    return u;
  }
  static bool allowed(const struct stat& st, const User& u, mode_t owner_bit, mode_t group_bit, mode_t other_bit) {
    if (u.uid == 0) return true;
    if (st.st_uid == u.uid) return (st.st_mode & owner_bit) != 0;
    for (gid_t g : u.gids) {
      if (st.st_gid == g) return (st.st_mode & group_bit) != 0;
    }
    return (st.st_mode & other_bit) != 0;
  }
  // Whether the user can reach and read (or write) `path`: search permission on every
  // directory above it, read (write) permission on it.
  static bool readable_by(const std::string& path, const User& u, bool write = false) {
    std::filesystem::path p = std::filesystem::absolute(path);
    std::filesystem::path dir;
    for (auto it = p.begin(); it != p.end(); ++it) {
      dir /= *it;
      struct stat st {};
      if (stat(dir.c_str(), &st) != 0) return false;
      bool last = std::next(it) == p.end();
      if (!last && !allowed(st, u, S_IXUSR, S_IXGRP, S_IXOTH)) return false;
      if (last) return write ? allowed(st, u, S_IWUSR, S_IWGRP, S_IWOTH) : allowed(st, u, S_IRUSR, S_IRGRP, S_IROTH);
    }
    return false;
  }

  void modes() {
    struct File {
      std::string where, path, what;
      bool secret;
      bool read_check = true;  // false: postern run gives it to the user (the store)
    };
    std::vector<File> files;
    auto add = [&](const char* key, bool secret) {
      const std::string& p = cfg.get_string(key);
      if (!p.empty()) files.push_back({cfg.origin(key), p, key, secret});
    };
    add("tls.certificate", false);
    add("tls.key", true);
    add("dns.trust_anchor", false);
    add("smtp.psl", false);
    add("delivery.tls_ca_file", false);
    for (const config::Config& k : cfg.get_maps("delivery.dkim")) {
      files.push_back({k.origin("key"), k.get_string("key"), "DKIM key", true});
    }
    if (!cfg.file().empty()) files.push_back({cfg.file(), cfg.file(), "the configuration", false});
    for (const std::string& f : cfg.included_files()) files.push_back({f, f, "the included file", false});
    if (cfg.get_string("store.engine") == "sqlite") {
      // Mail and password verifiers: like a key, for the services' user and group only.
      files.push_back({cfg.origin("store.path"), cfg.get_string("store.path"), "the store", true, false});
    }
    for (const File& f : files) {
      struct stat st {};
      if (stat(f.path.c_str(), &st) != 0) continue;  // reported by the steps before
      if (st.st_mode & S_IWOTH) {
        error(f.where, f.what + " " + f.path + " may be written by anyone (chmod o-w)");
      } else if (f.secret && (st.st_mode & S_IROTH)) {
        warn(f.where, f.what + " " + f.path + " may be read by anyone (chmod o-r; the services need only its owner or group)");
      }
    }
    if (geteuid() != 0) return;  // only root can tell what another user may read
    auto u = service_user();
    if (!u) return;
    for (const File& f : files) {
      struct stat st {};
      if (!f.read_check || stat(f.path.c_str(), &st) != 0) continue;
      if (!readable_by(f.path, *u)) {
        error(f.where, f.what + " " + f.path + " cannot be read by server.user " + u->name +
                           ", whom the services run as (chown or chgrp it, or move it)");
      }
    }
    // A SQLite store outside server.data_dir (which postern run gives to the user) must be
    // writable by the user, and so must its directory (the WAL and lock files).
    if (cfg.get_string("store.engine") != "sqlite") return;
    std::filesystem::path db = std::filesystem::absolute(cfg.get_string("store.path"));
    std::filesystem::path data = std::filesystem::absolute(cfg.get_string("server.data_dir"));
    if (db.parent_path().lexically_normal() == data.lexically_normal()) return;
    for (const std::filesystem::path& p : {db.parent_path(), db}) {
      struct stat st {};
      if (stat(p.c_str(), &st) != 0) continue;
      if (!readable_by(p.string(), *u, true)) {
        error(cfg.origin("store.path"), "the store " + p.string() + " cannot be written by server.user " + u->name +
                                            " (chown it, or keep the store in server.data_dir)");
      }
    }
  }
};

}  // namespace

std::string Finding::str() const {
  std::string s = where.empty() ? std::string() : where + ": ";
  s += level == kError ? "error: " : "warning: ";
  return s + message;
}

bool has_errors(const std::vector<Finding>& findings) {
  for (const Finding& f : findings) {
    if (f.level == Finding::kError) return true;
  }
  return false;
}

std::string report_text(const std::vector<Finding>& findings) {
  if (findings.empty()) return {};
  std::string out;
  size_t errors = 0;
  for (const Finding& f : findings) {
    out += f.str() + "\n";
    errors += f.level == Finding::kError ? 1 : 0;
  }
  size_t warnings = findings.size() - errors;
  return out + std::to_string(errors) + (errors == 1 ? " error, " : " errors, ") + std::to_string(warnings) +
         (warnings == 1 ? " warning\n" : " warnings\n");
}

std::vector<Finding> check_config(const std::string& path, const std::vector<std::string>& sets,
                                  const CheckOptions& options) {
  config::Config cfg;
  std::vector<Finding> out;
  // 1. the YAML
  for (const config::Diagnostic& d : config::load_diagnostics(path, sets, &cfg)) {
    std::string where = d.line > 0 ? d.file + ":" + std::to_string(d.line) + ":" + std::to_string(d.col) : d.file;
    out.push_back({Finding::kError, where, d.message});
  }
  if (!out.empty()) return out;
  Checker c{cfg, {}};
  for (const config::Diagnostic& d : cfg.warnings()) {
    c.warn(d.line > 0 ? d.file + ":" + std::to_string(d.line) + ":" + std::to_string(d.col) : d.file, d.message);
  }
  // 2. what the services build from it
  auto smtp = config::smtp_settings(cfg);
  if (!smtp) c.error_from(smtp.error(), "");
  auto delivery = config::delivery_settings(cfg);
  if (!delivery) c.error_from(delivery.error(), "");
  // 3. the files
  c.tls_files();
  c.dkim_keys();
  c.plain_files();
  // 4. the store
  bool store_ok = false;
  if (options.store) {
    auto st = config::open_existing_store(cfg, "", "");
    if (!st) {
      const char* key = cfg.get_string("store.engine") == "postgresql" ? "store.url" : "store.path";
      c.error(cfg.origin(key), "the store cannot be opened: " + st.error().message());
    } else {
      store_ok = true;
    }
  }
  // What the services check themselves when they start, for anything the steps above do
  // not cover (filters, transports): only once the rest is clean, so nothing is said twice.
  if (!has_errors(c.out) && options.store && store_ok) {
    auto opener = [&cfg]() { return config::open_existing_store(cfg, "", ""); };
    if (smtp) {
      smtp::Server server(*smtp, opener, {});
      if (auto st = server.prepare(); !st) c.error_from(st.error(), "smtp-listen");
    }
    if (delivery) {
      smtp::delivery::Runner runner(*delivery, opener, {});
      if (auto st = runner.prepare(); !st) c.error_from(st.error(), "queue-run");
    }
  }
  // 5. modes
  if (options.permissions) c.modes();
  return std::move(c.out);
}

}  // namespace postern::admin
