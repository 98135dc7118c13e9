// Moving mail between the store and mailbox files: Maildir (Dovecot's flavour), mbox
// (mboxrd) and directories of .eml files. The logic behind store-import(8) and
// store-export(8); the format code itself is in lib/mail/maildir.h and lib/mail/mbox.h.
//
//   io::ImportOptions o{.account = acct.id};
//   io::ImportStats stats;
//   auto st = io::import_source(store, base::real_fs(), "/home/ann/Maildir", o, stats);
//
//   io::ExportOptions e{.account = acct.id, .format = io::Format::kMbox};
//   auto out = io::export_account(store, base::real_fs(), "/backup/ann", e);
//
// Rules (see store-import(8), store-export(8) for the user-facing version):
//   - Line ends: the store keeps messages with CRLF (as local delivery does). Importers
//     turn every bare LF into CRLF; exporters write files with LF (as Dovecot, mutt and
//     Postfix do), turning every CRLF into LF. A message stored with CRLF therefore comes
//     back byte for byte from every export/import round trip.
//   - Folders: the source's root goes to the Inbox (or --mailbox); "INBOX" as a first
//     level means the Inbox; a top-level folder named Sent, Sent Items, Sent Messages,
//     Drafts, Junk, Spam, Trash, Deleted Items, Deleted Messages, Archive or Archives goes
//     to the mailbox with that role (created with the folder's name and the role when the
//     account has none). Other folders are found or created by path.
//   - Idempotence: an email is skipped when the target mailbox already holds one with the
//     same blob id (SHA-256 of the stored bytes, so the same Message-ID and the same
//     content); counted per copy, so a source with two identical copies keeps two.
//     Keywords of skipped emails are left as they are.
//   - Received time: Maildir: the file's mtime (Dovecot's INTERNALDATE; exports set it),
//     else the name's leading timestamp; mbox: the From_ line's date; .eml: the file's
//     mtime. Without any: now.
//   - Bad messages (empty, no header before the first blank line, unreadable, refused by
//     the store as bad data) are reported through on_bad and skipped; everything else
//     that fails (store busy, over quota, I/O) stops the run with that error.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/fs.h"
#include "base/result.h"
#include "store/store.h"

namespace postern::store::io {

enum class Format { kMaildir, kMbox, kEml };
std::optional<Format> parse_format(std::string_view name);  // "maildir", "mbox", "eml"
std::string_view format_name(Format f);

// A directory with cur/ is a Maildir; a directory holding .eml files an .eml tree; a
// directory holding .mbox files (or files starting with "From ") an mbox tree; a file
// starting with "From " an mbox; a file ending in .eml one message. bad_data otherwise.
base::Result<Format> detect_format(base::FileSystem& fs, const std::string& source);

// Files: every CRLF becomes LF (messages in the store: mail::lf_to_crlf, the reverse).
std::string to_lf(std::string_view bytes);

struct ImportStats {
  uint64_t mailboxes = 0;  // distinct target mailboxes
  uint64_t created = 0;    // of which created by this run
  uint64_t imported = 0;
  uint64_t present = 0;    // skipped: already in the target mailbox
  uint64_t bad = 0;        // skipped: bad message (reported)
  uint64_t bytes = 0;      // of imported messages, as stored
};

struct ImportOptions {
  Id account = 0;
  std::optional<Format> format;  // detected when empty
  std::string mailbox;           // target for the source's root ("" = Inbox)
  bool create_mailboxes = false; // create `mailbox` when missing
  bool date_from_name = false;   // Maildir: the name's timestamp before the mtime
  // Called for every bad message with where it is ("FILE" or "FILE:LINE") and why.
  std::function<void(const std::string& where, const base::Error& why)> on_bad;
  // Called after each message (imported or skipped).
  std::function<void(const ImportStats&)> progress;
};

// Imports one source into the account; `stats` accumulates over several calls.
base::Status import_source(Store& store, base::FileSystem& fs, const std::string& source,
                           const ImportOptions& options, ImportStats& stats);

struct ExportStats {
  uint64_t mailboxes = 0;
  uint64_t messages = 0;
  uint64_t bytes = 0;  // written message bytes (LF)
  uint64_t dropped_keywords = 0;  // Maildir: beyond 26 custom keywords in a folder
};

struct ExportOptions {
  Id account = 0;
  Format format = Format::kMaildir;
  std::string mailbox;          // only this one ("" = all)
  std::string host = "postern"; // Maildir file names
  // Sets a written file's mtime (to the received time); the real file system's version
  // is used when unset and `fs` is base::real_fs().
  std::function<base::Status(const std::string& path, int64_t unix_seconds)> set_mtime;
  std::function<void(const ExportStats&)> progress;
};

// Writes the account's mailboxes under `dest` (created when missing):
//   maildir  DEST is the Maildir: INBOX at the top, ".Lists.Work" folders,
//            dovecot-keywords, dovecot-uidlist (the store's UIDVALIDITY and UIDs, so
//            Dovecot keeps them), subscriptions; file mtimes = received times
//   mbox     DEST/INBOX.mbox, DEST/Sent.mbox, DEST/Lists/Work.mbox (mboxrd, with
//            Status/X-Status/X-Keywords)
//   eml      DEST/INBOX/0001.eml, DEST/Lists/Work/0007.eml (UID, at least 4 digits);
//            bytes only, mtimes = received times
base::Result<ExportStats> export_account(Store& store, base::FileSystem& fs,
                                         const std::string& dest, const ExportOptions& options);

}  // namespace postern::store::io
