// What `account-ctl` does, as library calls: domains, accounts, passwords, quotas,
// aliases and app passwords on a Store, with the checks and output formats of the tool
// (text for people, one JSON object per line for scripts). The tool only parses argv.
//
//   auto out = postern::store::admin::list_accounts(*store, "example.org", /*json=*/true);
//   if (!out) return base::fail(out.error());
//   base::write_stdout(*out);
//
// Errors follow the exit-code table: a missing account, domain, alias or app password
// is Error::no_user (67); a duplicate or invalid name Error::bad_data (65); a busy
// store Error::temporary (75).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "store/store.h"

namespace postern::store::admin {

// "0", "none", "unlimited" -> 0; "1048576", "512K", "512M", "2G", "1T" (also "2GB",
// "2GiB"; powers of 1024, case-insensitive). Error::usage otherwise.
base::Result<uint64_t> parse_size(std::string_view text);
// 0 -> "0"; otherwise the largest unit with at most one decimal: "512M", "1.5G", "900".
std::string format_size(uint64_t bytes);

// A new app password: 16 characters in four groups ("k7xq-m2nd-..."), 80 random bits,
// from an alphabet without look-alikes (no 0/o, 1/l).
std::string generate_app_password();

// Reads a password from standard input. On a terminal: prompts on stderr without echo
// (twice when `confirm`, and the two must match). Otherwise: one line with its newline
// stripped ("pw\n"; "pw\npw\n" is accepted too, as from a confirming prompt), anything
// else after it is an error. Error::bad_data for an empty password.
base::Result<std::string> read_password(bool confirm);

// ---- operations (each returns what the tool prints, possibly "") ----
base::Status add_domain(Store& s, std::string_view name);
base::Status remove_domain(Store& s, std::string_view name, bool cascade);
base::Result<std::string> list_domains(Store& s, bool json);

// `credentials` empty: the account has no password (login impossible) until passwd.
base::Status add_account(Store& s, std::string_view address, std::string_view name,
                         uint64_t quota_bytes, const std::optional<Credentials>& credentials);
base::Status remove_account(Store& s, std::string_view address);
base::Result<std::string> list_accounts(Store& s, std::string_view domain, bool json);
// Quota, mailboxes, enabled, password scheme and SCRAM presence; never the hash.
base::Result<std::string> show_account(Store& s, std::string_view address, bool json);
base::Status set_password(Store& s, std::string_view address, const Credentials& c);
base::Status set_quota(Store& s, std::string_view address, uint64_t quota_bytes);
base::Status set_enabled(Store& s, std::string_view address, bool enabled);

base::Status add_alias(Store& s, std::string_view source, std::string_view target);
base::Status remove_alias(Store& s, std::string_view source, std::string_view target);
base::Result<std::string> list_aliases(Store& s, std::string_view domain, bool json);

// Generates, stores (hash + SCRAM) and returns the clear app password, shown only once.
base::Result<std::string> add_app_password(Store& s, std::string_view address,
                                           std::string_view name);
base::Status remove_app_password(Store& s, std::string_view address, std::string_view name);
base::Result<std::string> list_app_passwords(Store& s, std::string_view address, bool json);

// What `password` matches: "account" or "app-password NAME"; nullopt for nothing.
// Disabled accounts are checked like any other (this verifies data, not a login).
base::Result<std::optional<std::string>> verify(Store& s, std::string_view address,
                                                std::string_view password);

}  // namespace postern::store::admin
