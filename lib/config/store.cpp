#include "config/store.h"

namespace postern::config {

store::StoreOptions store_options(const Config& cfg) {
  store::StoreOptions o;
  if (cfg.get_string("store.engine") == "postgresql") {
    o.url = cfg.get_string("store.url");
  } else {
    o.url = "sqlite:" + cfg.get_string("store.path");
  }
  if (cfg.get_string("store.blobs") == "files") o.blob_dir = cfg.get_string("store.blob_dir");
  return o;
}

void add_store_options(CLI::App& app, std::string* store_url, std::string* blob_dir) {
  app.add_option("--store", *store_url,
                 "the store: sqlite:PATH, or a PostgreSQL URL or conninfo (default: from the "
                 "config)")
      ->type_name("URL");
  app.add_option("--blob-dir", *blob_dir,
                 "directory of message files, or \"db\" to keep them in the database "
                 "(default: from the config; beside a --store SQLite file)")
      ->type_name("DIR");
}

base::Result<std::unique_ptr<store::Store>> open_store(const Config& cfg,
                                                       const std::string& store_url,
                                                       const std::string& blob_dir, bool create) {
  store::StoreOptions o = store_options(cfg);
  if (!store_url.empty()) {
    o.url = store_url;
    o.blob_dir.clear();
    bool sqlite = store_url.rfind("sqlite:", 0) == 0 ||
                  (store_url.find("://") == std::string::npos &&
                   store_url.find('=') == std::string::npos);
    if (sqlite) {
      std::string path = store_url.rfind("sqlite:", 0) == 0 ? store_url.substr(7) : store_url;
      o.blob_dir = base::parent_dir(path) + "/blobs";
    }
  }
  if (blob_dir == "db") {
    o.blob_dir.clear();
  } else if (!blob_dir.empty()) {
    o.blob_dir = blob_dir;
  }
  o.create = create;
  o.db.create = create;
  return store::Store::open(o);
}

base::Result<std::unique_ptr<store::Store>> open_existing_store(const Config& cfg,
                                                                const std::string& store_url,
                                                                const std::string& blob_dir) {
  auto st = open_store(cfg, store_url, blob_dir, false);
  if (!st && st.error().code() == base::ExitCode::kUnavailable) {
    return base::Error::temporary(st.error().message());
  }
  return st;
}

base::Result<store::Account> require_account(store::Store& store, const std::string& address) {
  auto acct = store.find_account(address);
  if (!acct) return acct.error();
  if (!*acct) return base::Error::no_user("no such account: " + address);
  return **acct;
}

}  // namespace postern::config
