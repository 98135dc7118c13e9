// Opening the store the way every store tool and service does: from the config
// (store.engine, store.path / store.url, store.blobs, store.blob_dir), or from a
// `--store URL` given on the command line, which wins.
//
//   postern::config::Config cfg;
//   std::string store_url, blob_dir;                  // --store, --blob-dir
//   postern::config::add_store_options(app, &store_url, &blob_dir);
//   ... in the body:
//   auto store = postern::config::open_store(cfg, store_url, blob_dir);
//   if (!store) return base::fail(store.error());
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "base/result.h"
#include "config/config.h"
#include "store/store.h"

namespace postern::config {

// StoreOptions from the config alone.
store::StoreOptions store_options(const Config& cfg);

// Adds --store URL ("sqlite:PATH", a .db path, or a PostgreSQL URL/conninfo) and
// --blob-dir DIR (message files; "db" keeps blobs in the database) to a tool.
void add_store_options(CLI::App& app, std::string* store_url, std::string* blob_dir);

// Opens the store: the overrides when non-empty, else the config. With a --store URL
// for SQLite and no --blob-dir, blobs go to "blobs/" beside the database file; with a
// PostgreSQL --store and no --blob-dir, inside the database.
base::Result<std::unique_ptr<store::Store>> open_store(const Config& cfg,
                                                       const std::string& store_url,
                                                       const std::string& blob_dir,
                                                       bool create = true);

// open_store() for tools that only use an existing store (create = false), with "the
// store cannot be opened" reported as temporary (75): an MTA or a cron job retries while
// the admin fixes it, instead of bouncing or giving up.
base::Result<std::unique_ptr<store::Store>> open_existing_store(const Config& cfg,
                                                                const std::string& store_url,
                                                                const std::string& blob_dir);

// The account with this address, or Error::no_user (67) naming it.
base::Result<store::Account> require_account(store::Store& store, const std::string& address);

}  // namespace postern::config
