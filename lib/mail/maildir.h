// Maildir as Dovecot, Courier and mutt lay it out: the pure format code (file names,
// flags, dovecot-keywords, folder names, modified UTF-7) and a reader/writer over the
// base::FileSystem seam. Nothing here knows the store; lib/store/mailbox_io joins them.
//
//   Maildir/                       the INBOX: cur/ new/ tmp/
//   Maildir/.Sent/                 Maildir++ folder "Sent"
//   Maildir/.Lists.Work/           "Lists/Work" ('.' is the hierarchy separator on disk)
//   Maildir/.&ZeVnLIqe-/           "日本語" (modified UTF-7, RFC 3501 5.1.3)
//   Maildir/subscriptions          subscribed folders, one per line
//   Maildir/.Sent/dovecot-keywords "0 $Forwarded\n1 Junk\n": keyword letters a, b, ...
//   cur/1700000000.M1P2Q3.host,S=1234,W=1260:2,FRSa
//        |time     |unique |host |size  |vsize |flags (ASCII order) + keyword letters
//
//   auto name = maildir::parse_filename("1700000000.M1P2.h,S=12:2,RS");
//   maildir::KeywordTable table = maildir::KeywordTable::parse(dovecot_keywords_text);
//   std::vector<std::string> kw = maildir::keywords_of(*name, table, /*in_new=*/false);
//   // {"$answered", "$seen"}
//
// Keywords are JMAP names: S -> $seen, R -> $answered, F -> $flagged, D -> $draft,
// T -> $deleted, P -> $forwarded (and Dovecot's "$Forwarded" keyword too); custom
// keywords are lower-cased. A message in new/ usually has no info part and so is unseen;
// when it has one (Dovecot writes flags set before a client looked into new/) it counts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/fs.h"
#include "base/result.h"

namespace postern::mail::maildir {

// ---- modified UTF-7 (RFC 3501 5.1.3) ----

// UTF-8 -> modified UTF-7. Characters in `also_encode` (printable ASCII that must not
// appear literally, e.g. "." inside a Maildir++ level) are base64-encoded too; bad_data
// for invalid UTF-8.
base::Result<std::string> encode_mutf7(std::string_view utf8, std::string_view also_encode = {});
// Modified UTF-7 -> UTF-8; bad_data for malformed input (bare '&', bad base64, non-zero
// padding bits, unpaired surrogates, 8-bit bytes).
base::Result<std::string> decode_mutf7(std::string_view mutf7);

// ---- file names (cr.yp.to/proto/maildir.html, Dovecot's S=/W= and keyword letters) ----

struct FileName {
  std::string base;              // everything before ":2," (or the whole name)
  int64_t time = 0;              // the leading decimal timestamp; 0 when absent
  std::optional<uint64_t> size;  // S= (bytes of the file)
  std::optional<uint64_t> vsize; // W= (size with CRLF line ends)
  bool has_info = false;         // ":2," present
  std::string flags;             // upper-case standard flags, as found
  std::string keyword_letters;   // lower-case letters a..z, as found
};
FileName parse_filename(std::string_view name);

// "time.unique.host,S=size,W=vsize:2,FLAGS"; `flags` is sorted into ASCII order (the
// Maildir spec requires it) and duplicates dropped.
std::string make_filename(int64_t time, std::string_view unique, std::string_view host,
                          uint64_t size, uint64_t vsize, std::string_view flags);

// The dovecot-keywords file: "N name" lines, N in 0..25 standing for letters a..z.
class KeywordTable {
 public:
  static KeywordTable parse(std::string_view text);
  // The keyword of a letter (as written in the file), or nullopt.
  std::optional<std::string> name_of(char letter) const;
  // The letter of a keyword (case-insensitive), assigning the next free one; nullopt
  // once all 26 are taken.
  std::optional<char> letter_for(std::string_view keyword);
  std::string text() const;  // the file's contents; "" when empty
  bool empty() const;

 private:
  std::vector<std::string> names_;  // index = letter - 'a'; "" unused
};

// JMAP keywords of a message (sorted, unique): standard flags, keyword letters through
// `table` (unknown letters are dropped), lower-cased. `in_new` (the file is in new/)
// changes nothing: flags in the name count there too.
std::vector<std::string> keywords_of(const FileName& name, const KeywordTable& table, bool in_new);

// The info flags for `keywords`: standard letters plus keyword letters assigned in
// `table`, in ASCII order. Keywords that did not fit in the table's 26 letters are
// appended to `dropped` when it is given. $forwarded is written both as P and as
// Dovecot's "$Forwarded" keyword.
std::string flags_for(const std::vector<std::string>& keywords, KeywordTable& table,
                      std::vector<std::string>* dropped = nullptr);

// Size with every bare LF counted as CRLF (Dovecot's W=).
uint64_t virtual_size(std::string_view bytes);

// ---- folder names ----

// Store path ("Lists/Work", levels joined by '/') -> Maildir++ directory name
// (".Lists.Work"); each level in modified UTF-7 with '.' encoded as well (the on-disk
// separator). "" (the INBOX) -> "". bad_data for empty levels or invalid UTF-8.
base::Result<std::string> folder_dir_name(std::string_view path);
// Maildir++ directory name (".Lists.Work") -> store path ("Lists/Work"). bad_data when it
// does not start with '.', has an empty level, a '/' inside a level or bad mUTF-7.
base::Result<std::string> folder_path(std::string_view dir_name);

// ---- reading a Maildir tree ----

struct Folder {
  std::string path;  // store path; "" for the root (INBOX)
  std::string dir;   // directory holding cur/ new/ tmp/
};

// Whether `dir` looks like a Maildir (has cur/).
bool is_maildir(base::FileSystem& fs, const std::string& dir);

// The root and every folder under it: Maildir++ ".A.B" directories, and directories
// nested the way Dovecot's LAYOUT=fs keeps them (A/B/cur). Sorted by path. Folders whose
// names cannot be decoded are returned in `bad` (directory names) and left out.
base::Result<std::vector<Folder>> list_folders(base::FileSystem& fs, const std::string& root,
                                               std::vector<std::string>* bad = nullptr);

struct Entry {
  std::string file;  // full path
  bool in_new = false;
  FileName name;
  std::vector<std::string> keywords;
};

// The messages of a folder (new/ and cur/; tmp/ is not looked at), oldest first by the
// name's timestamp, then by name; keywords resolved through the folder's
// dovecot-keywords file. Dot files are skipped.
base::Result<std::vector<Entry>> list_messages(base::FileSystem& fs, const Folder& folder);

// The root's `subscriptions` file as store paths; nullopt when there is none. Reads
// Dovecot's version 2 format ("V\t2" header, '\t' between levels, UTF-8) and the older
// one-name-per-line format ('.' between levels, modified UTF-7). "INBOX" stays "INBOX".
base::Result<std::optional<std::vector<std::string>>> read_subscriptions(base::FileSystem& fs,
                                                                        const std::string& root);

// ---- writing ----

class Writer {
 public:
  // `root` is created when missing. `host` goes into file names ("/" and ":" replaced).
  Writer(base::FileSystem& fs, std::string root, std::string host);

  // Creates the folder's directory with cur/ new/ tmp/ (and the "maildirfolder" marker
  // for Maildir++ subfolders). "" is the root.
  base::Status create_folder(std::string_view path);
  // The folder's IMAP UIDVALIDITY and next UID: finish() then writes a dovecot-uidlist
  // (version 3) naming each message add()ed with its UID, so Dovecot serves the same
  // UIDs. Not when the folder already had a dovecot-uidlist (that one is left alone).
  base::Status set_uids(std::string_view path, uint32_t uid_validity, uint32_t uid_next);
  // Writes one message into the folder's cur/: tmp/NAME, fsync, rename to cur/NAME,
  // fsync cur/. The name carries `received_at`, S= and W= and the flags for `keywords`
  // (custom keywords get letters in the folder's dovecot-keywords, written by finish()).
  // Returns the full path written. Keywords beyond 26 per folder go to `dropped`.
  // `uid` (ascending within a folder) goes into the dovecot-uidlist when set_uids() was called.
  base::Result<std::string> add(std::string_view path, std::string_view bytes,
                                const std::vector<std::string>& keywords, int64_t received_at,
                                uint32_t uid = 0, std::vector<std::string>* dropped = nullptr);
  // Writes each folder's dovecot-keywords and dovecot-uidlist and the root's
  // subscriptions file (Dovecot's older one-per-line format, which every version reads),
  // each atomically.
  base::Status finish(const std::vector<std::string>& subscribed_paths);

 private:
  struct FolderState {
    std::string path, dir;
    KeywordTable table;
    bool had_uidlist = false;
    uint32_t uid_validity = 0, uid_next = 0;
    std::string uidlist;  // "UID :BASENAME\n" lines
  };
  base::Result<FolderState*> folder(std::string_view path);

  base::FileSystem& fs_;
  std::string root_, host_;
  uint64_t counter_ = 0;
  std::vector<FolderState> folders_;
};

}  // namespace postern::mail::maildir
