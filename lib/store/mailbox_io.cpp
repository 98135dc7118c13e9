// Import into and export out of the store: Maildir, mbox, .eml trees. See mailbox_io.h.
#include "store/mailbox_io.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "mail/header.h"
#include "mail/maildir.h"
#include "mail/mbox.h"
#include "mail/message.h"
#include "mail/writer.h"

namespace postern::store::io {

namespace maildir = mail::maildir;
namespace mbox = mail::mbox;
using base::Error;
using base::Result;
using base::Status;

std::optional<Format> parse_format(std::string_view name) {
  if (name == "maildir") return Format::kMaildir;
  if (name == "mbox") return Format::kMbox;
  if (name == "eml") return Format::kEml;
  return std::nullopt;
}

std::string_view format_name(Format f) {
  switch (f) {
    case Format::kMaildir: return "maildir";
    case Format::kMbox: return "mbox";
    case Format::kEml: return "eml";
  }
  return "";
}

std::string to_lf(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\r' && i + 1 < bytes.size() && bytes[i + 1] == '\n') continue;
    out += bytes[i];
  }
  return out;
}

namespace {

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && mail::iequals(s.substr(s.size() - suffix.size()), suffix);
}

std::string join(const std::string& a, const std::string& b) {
  return a.empty() ? b : b.empty() ? a : a + "/" + b;
}

// Every regular file under `dir` (dot files skipped), with the directory path relative
// to the walk's start.
using FileVisitor = std::function<Status(const std::string& rel, const std::string& name,
                                         const std::string& path)>;
Status walk(base::FileSystem& fs, const std::string& dir, const std::string& rel, int depth,
            const FileVisitor& visit) {
  if (depth > 32) return Error::bad_data(dir + ": directories nested too deep");
  auto names = fs.list(dir);
  if (!names) return names.error();
  for (const auto& n : *names) {
    if (n.empty() || n[0] == '.') continue;
    std::string path = dir + "/" + n;
    if (auto sub = fs.list(path); sub) {
      if (auto st = walk(fs, path, join(rel, n), depth + 1, visit); !st) return st;
    } else if (auto st = visit(rel, n, path); !st) {
      return st;
    }
  }
  return {};
}

bool starts_with_from(base::FileSystem& fs, const std::string& path) {
  auto bytes = fs.read(path);
  return bytes && mbox::looks_like_mbox(*bytes);
}

struct Special {
  std::string_view name;
  Role role;
};
constexpr std::array<Special, 11> kSpecial = {{{"Sent", Role::kSent},
                                               {"Sent Items", Role::kSent},
                                               {"Sent Messages", Role::kSent},
                                               {"Drafts", Role::kDrafts},
                                               {"Junk", Role::kJunk},
                                               {"Spam", Role::kJunk},
                                               {"Trash", Role::kTrash},
                                               {"Deleted Items", Role::kTrash},
                                               {"Deleted Messages", Role::kTrash},
                                               {"Archive", Role::kArchive},
                                               {"Archives", Role::kArchive}}};

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  while (true) {
    size_t s = p.find('/');
    out.emplace_back(p.substr(0, s));
    if (s == std::string_view::npos) break;
    p.remove_prefix(s + 1);
  }
  return out;
}

class Importer {
 public:
  Importer(Store& store, const ImportOptions& o, ImportStats& stats)
      : store_(store), o_(o), stats_(stats) {}

  // The mailbox for a folder of the source ("" = its root).
  Result<Id> target(const std::string& rel) {
    if (auto it = targets_.find(rel); it != targets_.end()) return it->second;
    auto mb = resolve(rel);
    if (!mb) return mb.error();
    targets_[rel] = mb->id;
    if (counted_.insert(mb->id).second) ++stats_.mailboxes;
    return mb->id;
  }

  bool created(Id mailbox) const { return created_.count(mailbox) > 0; }
  Status unsubscribe(Id mailbox) { return store_.set_subscribed(o_.account, mailbox, false); }

  void bad(const std::string& where, const Error& why) {
    ++stats_.bad;
    if (o_.on_bad) o_.on_bad(where, why);
    if (o_.progress) o_.progress(stats_);
  }

  Status add(Id mailbox, const std::string& where, std::string_view bytes,
             std::vector<std::string> keywords, std::optional<int64_t> received_at) {
    if (auto parsed = mail::Message::parse(std::string(bytes)); !parsed) {
      bad(where, parsed.error());
      return {};
    }
    std::string stored = mail::lf_to_crlf(bytes);
    if (auto st = load_existing(); !st) return st;
    auto& have = existing_[mailbox];
    std::string blob = blob_id_of(stored);
    if (auto it = have.find(blob); it != have.end() && it->second > 0) {
      --it->second;
      ++stats_.present;
    } else {
      Delivery d{.account_id = o_.account,
                 .mailbox_id = mailbox,
                 .message = stored,
                 .keywords = std::move(keywords),
                 .received_at = received_at};
      auto r = store_.deliver(d);
      if (!r) {
        if (r.error().code() != base::ExitCode::kDataErr) return r.error().with_context(where);
        bad(where, r.error());
        return {};
      }
      ++stats_.imported;
      stats_.bytes += stored.size();
    }
    if (o_.progress) o_.progress(stats_);
    return {};
  }

 private:
  Result<Mailbox> create(const std::string& path, Role role) {
    auto mb = store_.create_mailbox(o_.account, path, role);
    if (!mb) return mb.error().with_context("creating mailbox " + path);
    ++stats_.created;
    created_.insert(mb->id);
    return mb;
  }

  Result<Mailbox> inbox() {
    if (inbox_) return *inbox_;
    auto mb = store_.mailbox_by_role(o_.account, Role::kInbox);
    if (!mb) return mb.error();
    if (!*mb) {
      auto named = store_.find_mailbox_nocase(o_.account, "INBOX");
      if (!named) return named.error();
      if (*named) {
        mb = named;
      } else {
        auto c = create("Inbox", Role::kInbox);
        if (!c) return c.error();
        *mb = *c;
      }
    }
    inbox_ = **mb;
    return *inbox_;
  }

  Result<Mailbox> find_or_create(const std::string& path, Role role) {
    auto mb = store_.find_mailbox(o_.account, path);
    if (!mb) return mb.error();
    if (*mb) return **mb;
    return create(path, role);
  }

  Result<Mailbox> resolve(const std::string& rel) {
    if (!o_.mailbox.empty()) {
      std::string path = join(o_.mailbox, rel);
      auto mb = store_.find_mailbox(o_.account, path);
      if (!mb) return mb.error();
      if (*mb) return **mb;
      if (rel.empty() && !o_.create_mailboxes) {
        return Error::usage("no mailbox \"" + path + "\" (--create-mailboxes creates it)");
      }
      return create(path, Role::kNone);
    }
    auto in = inbox();
    if (!in) return in.error();
    if (rel.empty()) return *in;
    auto levels = split_path(rel);
    if (mail::iequals(levels[0], "INBOX")) {
      if (levels.size() == 1) return *in;
      levels[0] = in->path;
    }
    std::string path;
    for (const auto& l : levels) path = join(path, l);
    if (levels.size() == 1) {
      for (const auto& s : kSpecial) {
        if (!mail::iequals(s.name, path)) continue;
        auto by_role = store_.mailbox_by_role(o_.account, s.role);
        if (!by_role) return by_role.error();
        if (*by_role) return **by_role;
        auto mb = find_or_create(path, s.role);
        if (mb && mb->role != s.role) {
          if (auto st = store_.set_role(o_.account, mb->id, s.role); !st) return st.error();
        }
        return mb;
      }
    }
    return find_or_create(path, Role::kNone);
  }

  // Blob ids of the emails already in each mailbox (once per run; paged).
  Status load_existing() {
    if (loaded_) return {};
    Id after = 0;
    while (true) {
      auto page = store_.emails(o_.account, after, 1000);
      if (!page) return page.error();
      for (const auto& e : *page) {
        for (Id m : e.mailboxes) ++existing_[m][e.blob_id];
        after = std::max(after, e.id);
      }
      if (page->size() < 1000) break;
    }
    loaded_ = true;
    return {};
  }

  Store& store_;
  const ImportOptions& o_;
  ImportStats& stats_;
  std::optional<Mailbox> inbox_;
  std::map<std::string, Id> targets_;
  std::set<Id> counted_, created_;
  std::map<Id, std::map<std::string, int>> existing_;
  bool loaded_ = false;
};

Status import_maildir(Importer& imp, base::FileSystem& fs, const std::string& source,
                      const ImportOptions& o) {
  std::vector<std::string> bad_dirs;
  auto folders = maildir::list_folders(fs, source, &bad_dirs);
  if (!folders) return folders.error();
  for (const auto& d : bad_dirs) {
    imp.bad(d, Error::bad_data("folder name is not valid modified UTF-7; folder skipped"));
  }
  auto subs = maildir::read_subscriptions(fs, source);
  if (!subs) return subs.error();
  for (const auto& folder : *folders) {
    auto mailbox = imp.target(folder.path);
    if (!mailbox) return mailbox.error();
    auto entries = maildir::list_messages(fs, folder);
    if (!entries) return entries.error();
    for (auto& e : *entries) {
      auto bytes = fs.read(e.file);
      if (!bytes) {
        imp.bad(e.file, bytes.error());
        continue;
      }
      std::optional<int64_t> received;
      if (e.name.time > 0 && o.date_from_name) received = e.name.time;
      if (!received) {
        if (auto mt = fs.mtime(e.file); mt) received = *mt;
      }
      if (!received && e.name.time > 0) received = e.name.time;
      if (auto st = imp.add(*mailbox, e.file, *bytes, std::move(e.keywords), received); !st) return st;
    }
    // A folder this run created is subscribed only when the source's subscriptions say
    // so. Courier-style names carry the "INBOX." namespace prefix: "INBOX/Sent" is "Sent".
    auto listed = [&](const std::string& path) {
      for (const auto& s : **subs) {
        if (s == path || (s.size() > 6 && mail::iequals(s.substr(0, 6), "INBOX/") &&
                          s.substr(6) == path)) {
          return true;
        }
      }
      return false;
    };
    if (*subs && !folder.path.empty() && imp.created(*mailbox) && !listed(folder.path)) {
      if (auto st = imp.unsubscribe(*mailbox); !st) return st;
    }
  }
  return {};
}

Status import_mbox_file(Importer& imp, base::FileSystem& fs, const std::string& rel,
                        const std::string& file) {
  auto mailbox = imp.target(rel);
  if (!mailbox) return mailbox.error();
  auto bytes = fs.read(file);
  if (!bytes) {
    imp.bad(file, bytes.error());
    return {};
  }
  if (bytes->empty()) return {};
  if (!mbox::looks_like_mbox(*bytes)) {
    imp.bad(file, Error::bad_data("not an mbox file (no \"From \" line at the start)"));
    return {};
  }
  for (auto& m : mbox::split(*bytes)) {
    std::optional<int64_t> received;
    if (m.received_at != 0) received = m.received_at;
    std::string where = file + ":" + std::to_string(m.line);
    if (auto st = imp.add(*mailbox, where, m.bytes, std::move(m.keywords), received); !st) return st;
  }
  return {};
}

Status import_eml_file(Importer& imp, base::FileSystem& fs, const std::string& rel,
                       const std::string& file) {
  auto mailbox = imp.target(rel);
  if (!mailbox) return mailbox.error();
  auto bytes = fs.read(file);
  if (!bytes) {
    imp.bad(file, bytes.error());
    return {};
  }
  std::optional<int64_t> received;
  if (auto mt = fs.mtime(file); mt) received = *mt;
  return imp.add(*mailbox, file, *bytes, {}, received);
}

std::string strip_ext(const std::string& name, std::string_view ext) {
  return ends_with_ci(name, ext) ? name.substr(0, name.size() - ext.size()) : name;
}

}  // namespace

Result<Format> detect_format(base::FileSystem& fs, const std::string& source) {
  if (maildir::is_maildir(fs, source)) return Format::kMaildir;
  if (auto names = fs.list(source); names) {
    bool eml = false, mbox_file = false;
    auto st = walk(fs, source, "", 0, [&](const std::string&, const std::string& name,
                                         const std::string& path) -> Status {
      if (ends_with_ci(name, ".eml")) eml = true;
      else if (ends_with_ci(name, ".mbox") || (!mbox_file && starts_with_from(fs, path))) mbox_file = true;
      return {};
    });
    if (!st) return st.error();
    if (eml) return Format::kEml;
    if (mbox_file) return Format::kMbox;
    return Error::bad_data(source + ": no Maildir (cur/), .eml files or mbox files in this directory");
  }
  auto bytes = fs.read(source);
  if (!bytes) return bytes.error();
  if (mbox::looks_like_mbox(*bytes)) return Format::kMbox;
  if (ends_with_ci(source, ".eml")) return Format::kEml;
  return Error::bad_data(source + ": not a Maildir, an mbox file or an .eml file");
}

Status import_source(Store& store, base::FileSystem& fs, const std::string& source,
                     const ImportOptions& options, ImportStats& stats) {
  Format format;
  if (options.format) {
    format = *options.format;
  } else {
    auto f = detect_format(fs, source);
    if (!f) return f.error();
    format = *f;
  }
  Importer imp(store, options, stats);
  if (format == Format::kMaildir) {
    if (!maildir::is_maildir(fs, source)) return Error::bad_data(source + ": not a Maildir (no cur/)");
    return import_maildir(imp, fs, source, options);
  }
  bool is_dir = fs.list(source).ok();
  if (!is_dir) {
    return format == Format::kMbox ? import_mbox_file(imp, fs, "", source)
                                   : import_eml_file(imp, fs, "", source);
  }
  return walk(fs, source, "", 0, [&](const std::string& rel, const std::string& name,
                                    const std::string& path) -> Status {
    if (format == Format::kEml) {
      if (!ends_with_ci(name, ".eml")) return {};
      return import_eml_file(imp, fs, rel, path);
    }
    if (ends_with_ci(name, ".mbox")) return import_mbox_file(imp, fs, join(rel, strip_ext(name, ".mbox")), path);
    if (!starts_with_from(fs, path)) return {};
    return import_mbox_file(imp, fs, join(rel, name), path);
  });
}

// ---- export ----

namespace {

Status make_dirs(base::FileSystem& fs, const std::string& path) {
  if (path.empty() || fs.exists(path)) return {};
  std::string parent = base::parent_dir(path);
  if (parent != path && parent != "." && parent != "/") {
    if (auto st = make_dirs(fs, parent); !st) return st;
  }
  return fs.make_dir(path);
}

Status real_set_mtime(const std::string& path, int64_t t) {
  struct timespec times[2];
  times[0].tv_sec = t;
  times[0].tv_nsec = 0;
  times[1] = times[0];
  if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) {
    return Error::from_errno(errno, "setting the time of " + path);
  }
  return {};
}

// The envelope sender for an mbox From_ line: the Return-Path, else MAILER-DAEMON.
std::string envelope_sender(std::string_view msg) {
  size_t pos = 0;
  while (pos < msg.size()) {
    size_t nl = msg.find('\n', pos);
    std::string_view line = msg.substr(pos, nl == std::string_view::npos ? msg.size() - pos : nl - pos);
    if (line.empty() || line == "\r") break;
    if (line.size() > 12 && mail::iequals(line.substr(0, 12), "return-path:")) {
      std::string_view v = line.substr(12);
      std::string out;
      for (char c : v) {
        if (c != '<' && c != '>' && c != ' ' && c != '\t' && c != '\r') out += c;
      }
      return out.empty() ? "MAILER-DAEMON" : out;
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return "MAILER-DAEMON";
}

// The file-system name of a mailbox for the mbox and eml layouts.
Result<std::string> tree_name(const Mailbox& mb) {
  if (mb.role == Role::kInbox) return std::string("INBOX");
  for (const auto& level : split_path(mb.path)) {
    if (level.empty() || level == "." || level == "..") {
      return Error::bad_data("mailbox \"" + mb.path + "\" cannot be a file name");
    }
  }
  return mb.path;
}

std::string uid_name(uint32_t uid) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04u", uid);
  return std::string(buf) + ".eml";
}

}  // namespace

Result<ExportStats> export_account(Store& store, base::FileSystem& fs, const std::string& dest,
                                   const ExportOptions& o) {
  auto all = store.mailboxes(o.account);
  if (!all) return all.error();
  std::vector<Mailbox> boxes;
  for (const auto& mb : *all) {
    if (o.mailbox.empty() || mb.path == o.mailbox) boxes.push_back(mb);
  }
  if (!o.mailbox.empty() && boxes.empty()) return Error::usage("no mailbox \"" + o.mailbox + "\"");
  std::map<Id, Email> meta;
  for (Id after = 0;;) {
    auto page = store.emails(o.account, after, 1000);
    if (!page) return page.error();
    for (auto& e : *page) {
      after = std::max(after, e.id);
      meta.emplace(e.id, std::move(e));
    }
    if (page->size() < 1000) break;
  }
  auto set_mtime = o.set_mtime;
  if (!set_mtime && &fs == &base::real_fs()) set_mtime = real_set_mtime;
  if (auto st = make_dirs(fs, dest); !st) return st.error();

  ExportStats stats;
  std::optional<maildir::Writer> writer;
  if (o.format == Format::kMaildir) writer.emplace(fs, dest, o.host);
  std::vector<std::string> subscribed;
  for (const auto& mb : boxes) {
    std::string wpath = mb.role == Role::kInbox ? "" : mb.path;
    std::string tree;
    if (o.format != Format::kMaildir) {
      auto t = tree_name(mb);
      if (!t) return t.error();
      tree = dest + "/" + *t;
    }
    if (writer) {
      if (auto st = writer->set_uids(wpath, mb.uid_validity, mb.uid_next); !st) return st.error();
      if (mb.subscribed) subscribed.push_back(wpath);
    } else if (o.format == Format::kEml) {
      if (auto st = make_dirs(fs, tree); !st) return st.error();
    } else {
      if (auto st = make_dirs(fs, base::parent_dir(tree + ".mbox")); !st) return st.error();
    }
    ++stats.mailboxes;
    auto members = store.members(mb.id);
    if (!members) return members.error();
    std::string mbox_file;
    for (const auto& m : *members) {
      auto it = meta.find(m.email_id);
      if (it == meta.end()) continue;  // destroyed since the listing
      const Email& e = it->second;
      auto bytes = store.read_message(o.account, e.id);
      if (!bytes) return bytes.error();
      std::string lf = to_lf(*bytes);
      std::string written;
      if (writer) {
        std::vector<std::string> dropped;
        auto path = writer->add(wpath, lf, e.keywords, e.received_at, m.uid, &dropped);
        if (!path) return path.error();
        stats.dropped_keywords += dropped.size();
        written = *path;
      } else if (o.format == Format::kEml) {
        written = tree + "/" + uid_name(m.uid);
        if (auto st = base::write_file_atomic(fs, written, lf); !st) return st.error();
      } else {
        mbox_file += mbox::format_message(envelope_sender(lf), e.received_at, e.keywords, lf);
      }
      if (!written.empty() && set_mtime) {
        if (auto st = set_mtime(written, e.received_at); !st) return st.error();
      }
      ++stats.messages;
      stats.bytes += lf.size();
      if (o.progress) o.progress(stats);
    }
    if (o.format == Format::kMbox) {
      if (auto st = base::write_file_atomic(fs, tree + ".mbox", mbox_file); !st) return st.error();
    }
  }
  if (writer) {
    if (auto st = writer->finish(subscribed); !st) return st.error();
  }
  return stats;
}

}  // namespace postern::store::io
