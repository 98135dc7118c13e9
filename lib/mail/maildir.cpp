// Maildir file names, flags, dovecot-keywords, folder names and modified UTF-7.
// See maildir.h; the format is cr.yp.to/proto/maildir.html plus Dovecot's extensions
// (S=/W= in the name, keyword letters, dovecot-keywords, Maildir++ and LAYOUT=fs folders).
#include "mail/maildir.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "mail/charset.h"
#include "mail/header.h"

namespace postern::mail::maildir {

using base::Error;
using base::Result;
using base::Status;

namespace {

// RFC 3501 5.1.3: modified BASE64 uses ',' instead of '/'.
constexpr std::string_view kB64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int b64_value(char c) {
  size_t p = kB64.find(c);
  return p == std::string_view::npos ? -1 : static_cast<int>(p);
}

// Decodes one UTF-8 sequence at s[i]; advances i. -1 when invalid.
int32_t next_code_point(std::string_view s, size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  int len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
  if (len == 0 || i + len > s.size()) return -1;
  int32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
  for (int k = 1; k < len; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (c & 0x3F);
  }
  static constexpr std::array<int32_t, 5> kMin = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  i += len;
  return cp;
}

void flush_b64(std::string& out, std::string& utf16) {
  if (utf16.empty()) return;
  out += '&';
  uint32_t bits = 0;
  int nbits = 0;
  for (char c : utf16) {
    bits = (bits << 8) | static_cast<unsigned char>(c);
    nbits += 8;
    while (nbits >= 6) {
      nbits -= 6;
      out += kB64[(bits >> nbits) & 0x3F];
    }
  }
  if (nbits > 0) out += kB64[(bits << (6 - nbits)) & 0x3F];
  out += '-';
  utf16.clear();
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    size_t p = s.find(sep);
    out.push_back(s.substr(0, p));
    if (p == std::string_view::npos) break;
    s.remove_prefix(p + 1);
  }
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

struct FlagMap {
  char letter;
  std::string_view keyword;
};
constexpr std::array<FlagMap, 6> kFlags = {{{'D', "$draft"},
                                            {'F', "$flagged"},
                                            {'P', "$forwarded"},
                                            {'R', "$answered"},
                                            {'S', "$seen"},
                                            {'T', "$deleted"}}};

}  // namespace

Result<std::string> encode_mutf7(std::string_view utf8, std::string_view also_encode) {
  std::string out, utf16;
  size_t i = 0;
  while (i < utf8.size()) {
    int32_t cp = next_code_point(utf8, i);
    if (cp < 0) return Error::bad_data("invalid UTF-8 in mailbox name");
    bool literal = cp >= 0x20 && cp <= 0x7E && also_encode.find(static_cast<char>(cp)) ==
                                                   std::string_view::npos;
    if (literal) {
      flush_b64(out, utf16);
      out += static_cast<char>(cp);
      if (cp == '&') out += '-';
      continue;
    }
    auto unit = [&](uint32_t u) {
      utf16 += static_cast<char>(u >> 8);
      utf16 += static_cast<char>(u & 0xFF);
    };
    if (cp >= 0x10000) {
      uint32_t v = cp - 0x10000;
      unit(0xD800 | (v >> 10));
      unit(0xDC00 | (v & 0x3FF));
    } else {
      unit(static_cast<uint32_t>(cp));
    }
  }
  flush_b64(out, utf16);
  return out;
}

Result<std::string> decode_mutf7(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c < 0x20 || c > 0x7E) return Error::bad_data("modified UTF-7: 8-bit or control character");
    if (c != '&') {
      out += c;
      ++i;
      continue;
    }
    size_t end = s.find('-', i + 1);
    if (end == std::string_view::npos) return Error::bad_data("modified UTF-7: '&' without '-'");
    std::string_view run = s.substr(i + 1, end - i - 1);
    i = end + 1;
    if (run.empty()) {
      out += '&';
      continue;
    }
    uint32_t bits = 0;
    int nbits = 0;
    std::vector<uint16_t> units;
    uint32_t pending = 0;
    bool have_high = false;
    for (char b : run) {
      int v = b64_value(b);
      if (v < 0) return Error::bad_data("modified UTF-7: bad base64 character");
      bits = (bits << 6) | static_cast<uint32_t>(v);
      nbits += 6;
      if (nbits >= 16) {
        nbits -= 16;
        units.push_back(static_cast<uint16_t>((bits >> nbits) & 0xFFFF));
      }
    }
    if (nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0) {
      return Error::bad_data("modified UTF-7: bad base64 padding");
    }
    for (uint16_t u : units) {
      if (u >= 0xD800 && u <= 0xDBFF) {
        if (have_high) return Error::bad_data("modified UTF-7: unpaired surrogate");
        pending = u;
        have_high = true;
      } else if (u >= 0xDC00 && u <= 0xDFFF) {
        if (!have_high) return Error::bad_data("modified UTF-7: unpaired surrogate");
        append_utf8(out, 0x10000 + ((pending - 0xD800) << 10) + (u - 0xDC00));
        have_high = false;
      } else {
        if (have_high) return Error::bad_data("modified UTF-7: unpaired surrogate");
        append_utf8(out, u);
      }
    }
    if (have_high) return Error::bad_data("modified UTF-7: unpaired surrogate");
  }
  return out;
}

FileName parse_filename(std::string_view name) {
  FileName f;
  size_t info = name.rfind(":2,");
  std::string_view base = name;
  if (info != std::string_view::npos) {
    f.has_info = true;
    base = name.substr(0, info);
    for (char c : name.substr(info + 3)) {
      if (c >= 'A' && c <= 'Z') {
        if (f.flags.find(c) == std::string::npos) f.flags += c;
      } else if (c >= 'a' && c <= 'z') {
        if (f.keyword_letters.find(c) == std::string::npos) f.keyword_letters += c;
      }
    }
  }
  f.base = std::string(base);
  size_t digits = 0;
  while (digits < base.size() && digits < 18 && base[digits] >= '0' && base[digits] <= '9') ++digits;
  if (digits > 0 && (digits == base.size() || base[digits] == '.')) {
    f.time = std::stoll(std::string(base.substr(0, digits)));
  }
  auto fields = split(base, ',');
  for (size_t k = 1; k < fields.size(); ++k) {
    std::string_view fv = fields[k];
    if (fv.size() > 2 && fv[1] == '=' && all_digits(fv.substr(2)) && fv.size() <= 21) {
      uint64_t v = std::stoull(std::string(fv.substr(2)));
      if (fv[0] == 'S') f.size = v;
      if (fv[0] == 'W') f.vsize = v;
    }
  }
  return f;
}

std::string make_filename(int64_t time, std::string_view unique, std::string_view host,
                          uint64_t size, uint64_t vsize, std::string_view flags) {
  std::string sorted(flags);
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  return std::to_string(std::max<int64_t>(time, 0)) + "." + std::string(unique) + "." +
         std::string(host) + ",S=" + std::to_string(size) + ",W=" + std::to_string(vsize) +
         ":2," + sorted;
}

KeywordTable KeywordTable::parse(std::string_view text) {
  KeywordTable t;
  for (std::string_view line : split(text, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos || !all_digits(line.substr(0, sp)) || sp > 2) continue;
    int idx = std::stoi(std::string(line.substr(0, sp)));
    std::string_view name = line.substr(sp + 1);
    if (idx > 25 || name.empty()) continue;
    if (t.names_.size() <= static_cast<size_t>(idx)) t.names_.resize(idx + 1);
    t.names_[idx] = std::string(name);
  }
  return t;
}

std::optional<std::string> KeywordTable::name_of(char letter) const {
  if (letter < 'a' || letter > 'z') return std::nullopt;
  size_t idx = static_cast<size_t>(letter - 'a');
  if (idx >= names_.size() || names_[idx].empty()) return std::nullopt;
  return names_[idx];
}

std::optional<char> KeywordTable::letter_for(std::string_view keyword) {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (!names_[i].empty() && iequals(names_[i], keyword)) return static_cast<char>('a' + i);
  }
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i].empty()) {
      names_[i] = std::string(keyword);
      return static_cast<char>('a' + i);
    }
  }
  if (names_.size() >= 26) return std::nullopt;
  names_.emplace_back(keyword);
  return static_cast<char>('a' + names_.size() - 1);
}

std::string KeywordTable::text() const {
  std::string out;
  for (size_t i = 0; i < names_.size(); ++i) {
    if (!names_[i].empty()) out += std::to_string(i) + " " + names_[i] + "\n";
  }
  return out;
}

bool KeywordTable::empty() const {
  return std::all_of(names_.begin(), names_.end(), [](const auto& n) { return n.empty(); });
}

std::vector<std::string> keywords_of(const FileName& name, const KeywordTable& table, bool in_new) {
  std::vector<std::string> out;
  for (char c : name.flags) {
    for (const auto& f : kFlags) {
      if (f.letter == c) out.emplace_back(f.keyword);
    }
  }
  for (char c : name.keyword_letters) {
    if (auto kw = table.name_of(c)) out.push_back(to_lower(*kw));
  }
  (void)in_new;  // new/ files normally carry no info; when they do (Dovecot) it counts
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string flags_for(const std::vector<std::string>& keywords, KeywordTable& table,
                      std::vector<std::string>* dropped) {
  std::string flags;
  for (const auto& kw : keywords) {
    std::string lower = to_lower(kw);
    bool standard = false;
    for (const auto& f : kFlags) {
      if (f.keyword == lower) {
        flags += f.letter;
        standard = true;
      }
    }
    // Dovecot shows $Forwarded only from its keyword letter; mutt and the Maildir spec
    // read P. Both are written.
    std::string custom = lower == "$forwarded" ? "$Forwarded" : standard ? "" : lower;
    if (custom.empty()) continue;
    if (auto letter = table.letter_for(custom)) {
      flags += *letter;
    } else if (dropped) {
      dropped->push_back(lower);
    }
  }
  std::sort(flags.begin(), flags.end());
  flags.erase(std::unique(flags.begin(), flags.end()), flags.end());
  return flags;
}

uint64_t virtual_size(std::string_view bytes) {
  uint64_t n = bytes.size();
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\n' && (i == 0 || bytes[i - 1] != '\r')) ++n;
  }
  return n;
}

Result<std::string> folder_dir_name(std::string_view path) {
  if (path.empty()) return std::string();
  std::string out;
  for (std::string_view level : split(path, '/')) {
    if (level.empty()) return Error::bad_data("empty level in mailbox name \"" + std::string(path) + "\"");
    auto enc = encode_mutf7(level, ".");
    if (!enc) return enc.error();
    out += "." + *enc;
  }
  return out;
}

Result<std::string> folder_path(std::string_view dir_name) {
  if (dir_name.size() < 2 || dir_name[0] != '.') {
    return Error::bad_data("not a Maildir++ folder name: " + std::string(dir_name));
  }
  std::string out;
  for (std::string_view level : split(dir_name.substr(1), '.')) {
    if (level.empty()) return Error::bad_data("empty level in folder " + std::string(dir_name));
    auto dec = decode_mutf7(level);
    if (!dec) return dec.error().with_context(std::string(dir_name));
    if (dec->find('/') != std::string::npos || dec->empty()) {
      return Error::bad_data("'/' in folder " + std::string(dir_name));
    }
    if (!out.empty()) out += '/';
    out += *dec;
  }
  return out;
}

bool is_maildir(base::FileSystem& fs, const std::string& dir) { return fs.exists(dir + "/cur"); }

namespace {

// Dovecot's LAYOUT=fs: A/B/{cur,new,tmp}, names in modified UTF-7.
void walk_fs_layout(base::FileSystem& fs, const std::string& dir, const std::string& prefix,
                    int depth, std::vector<Folder>& out, std::vector<std::string>* bad) {
  if (depth > 32) return;
  auto names = fs.list(dir);
  if (!names) return;  // a file, or unreadable
  for (const auto& n : *names) {
    if (n.empty() || n[0] == '.' || n == "cur" || n == "new" || n == "tmp") continue;
    std::string sub = dir + "/" + n;
    auto level = decode_mutf7(n);
    if (!level || level->find('/') != std::string::npos) {
      if (is_maildir(fs, sub) && bad) bad->push_back(sub);
      continue;
    }
    std::string path = prefix.empty() ? *level : prefix + "/" + *level;
    if (is_maildir(fs, sub)) out.push_back({path, sub});
    walk_fs_layout(fs, sub, path, depth + 1, out, bad);
  }
}

}  // namespace

Result<std::vector<Folder>> list_folders(base::FileSystem& fs, const std::string& root,
                                         std::vector<std::string>* bad) {
  auto names = fs.list(root);
  if (!names) return names.error();
  std::vector<Folder> out;
  if (is_maildir(fs, root)) out.push_back({"", root});
  for (const auto& n : *names) {
    if (n.size() < 2 || n[0] != '.' || n == "..") continue;
    std::string dir = root + "/" + n;
    if (!is_maildir(fs, dir)) continue;
    auto path = folder_path(n);
    if (!path) {
      if (bad) bad->push_back(dir);
      continue;
    }
    out.push_back({*path, dir});
  }
  walk_fs_layout(fs, root, "", 0, out, bad);
  std::sort(out.begin(), out.end(), [](const Folder& a, const Folder& b) { return a.path < b.path; });
  return out;
}

Result<std::vector<Entry>> list_messages(base::FileSystem& fs, const Folder& folder) {
  KeywordTable table;
  std::string kw_file = folder.dir + "/dovecot-keywords";
  if (fs.exists(kw_file)) {
    auto text = fs.read(kw_file);
    if (!text) return text.error();
    table = KeywordTable::parse(*text);
  }
  std::vector<Entry> out;
  for (const char* sub : {"new", "cur"}) {
    std::string dir = folder.dir + "/" + sub;
    if (!fs.exists(dir)) continue;
    auto names = fs.list(dir);
    if (!names) return names.error();
    for (const auto& n : *names) {
      if (n.empty() || n[0] == '.') continue;
      Entry e;
      e.file = dir + "/" + n;
      e.in_new = std::strcmp(sub, "new") == 0;
      e.name = parse_filename(n);
      e.keywords = keywords_of(e.name, table, e.in_new);
      out.push_back(std::move(e));
    }
  }
  // Oldest first, so UIDs follow the order the messages arrived in.
  std::stable_sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    return a.name.time != b.name.time ? a.name.time < b.name.time : a.name.base < b.name.base;
  });
  return out;
}

Result<std::optional<std::vector<std::string>>> read_subscriptions(base::FileSystem& fs,
                                                                  const std::string& root) {
  std::string file = root + "/subscriptions";
  if (!fs.exists(file)) return std::optional<std::vector<std::string>>();
  auto text = fs.read(file);
  if (!text) return text.error();
  auto lines = split(*text, '\n');
  std::vector<std::string> out;
  size_t start = 0;
  bool v2 = !lines.empty() && lines[0].starts_with("V\t");
  if (v2) start = 1;
  for (size_t i = start; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    std::string path;
    if (v2) {
      for (std::string_view level : split(line, '\t')) {
        if (!path.empty()) path += '/';
        path += level;
      }
    } else {
      char sep = line.find('/') != std::string_view::npos ? '/' : '.';
      for (std::string_view level : split(line, sep)) {
        auto dec = decode_mutf7(level);
        if (!path.empty()) path += '/';
        path += dec ? *dec : std::string(level);
      }
    }
    out.push_back(std::move(path));
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

Writer::Writer(base::FileSystem& fs, std::string root, std::string host)
    : fs_(fs), root_(std::move(root)), host_(std::move(host)) {
  for (char& c : host_) {
    if (c == '/' || c == ':' || c == ',') c = '_';
  }
  if (host_.empty()) host_ = "localhost";
}

Status Writer::create_folder(std::string_view path) {
  auto f = folder(path);
  if (!f) return f.error();
  return {};
}

Result<Writer::FolderState*> Writer::folder(std::string_view path) {
  for (auto& f : folders_) {
    if (f.path == path) return &f;
  }
  auto name = folder_dir_name(path);
  if (!name) return name.error();
  std::string dir = name->empty() ? root_ : root_ + "/" + *name;
  for (const std::string& d : {root_, dir, dir + "/cur", dir + "/new", dir + "/tmp"}) {
    if (auto st = fs_.make_dir(d); !st) return st.error();
  }
  if (!name->empty()) {
    std::string marker = dir + "/maildirfolder";
    if (!fs_.exists(marker)) {
      auto file = fs_.create(marker, false);
      if (!file) return file.error();
      if (auto st = (*file)->close(); !st) return st.error();
    }
  }
  if (auto st = fs_.sync_dir(dir); !st) return st.error();
  if (auto st = fs_.sync_dir(root_); !st) return st.error();
  FolderState state{std::string(path), dir, {}};
  state.had_uidlist = fs_.exists(dir + "/dovecot-uidlist");
  std::string kw_file = dir + "/dovecot-keywords";
  if (fs_.exists(kw_file)) {  // exporting into an existing Maildir: keep its letters
    auto text = fs_.read(kw_file);
    if (!text) return text.error();
    state.table = KeywordTable::parse(*text);
  }
  folders_.push_back(std::move(state));
  return &folders_.back();
}

Status Writer::set_uids(std::string_view path, uint32_t uid_validity, uint32_t uid_next) {
  auto f = folder(path);
  if (!f) return f.error();
  (*f)->uid_validity = uid_validity;
  (*f)->uid_next = uid_next;
  return {};
}

Result<std::string> Writer::add(std::string_view path, std::string_view bytes,
                                const std::vector<std::string>& keywords, int64_t received_at,
                                uint32_t uid, std::vector<std::string>* dropped) {
  auto f = folder(path);
  if (!f) return f.error();
  FolderState& st = **f;
  std::string flags = flags_for(keywords, st.table, dropped);
  std::string name;
  do {
    std::string unique = "P" + std::to_string(::getpid()) + "Q" + std::to_string(++counter_);
    name = make_filename(received_at, unique, host_, bytes.size(), virtual_size(bytes), flags);
  } while (fs_.exists(st.dir + "/cur/" + name) || fs_.exists(st.dir + "/tmp/" + name));
  std::string tmp = st.dir + "/tmp/" + name, final_path = st.dir + "/cur/" + name;
  auto file = fs_.create(tmp, true);
  if (!file) return file.error();
  Status s = (*file)->append(bytes);
  if (s) s = (*file)->sync();
  Status c = (*file)->close();
  if (s && !c) s = c;
  if (s) s = fs_.rename(tmp, final_path);
  if (!s) {
    (void)fs_.remove(tmp);
    return s.error();
  }
  if (auto d = fs_.sync_dir(st.dir + "/cur"); !d) return d.error();
  if (uid != 0 && st.uid_validity != 0) {
    st.uidlist += std::to_string(uid) + " :" + name.substr(0, name.rfind(":2,")) + "\n";
  }
  return final_path;
}

Status Writer::finish(const std::vector<std::string>& subscribed_paths) {
  for (const auto& f : folders_) {
    if (!f.table.empty()) {
      if (auto st = base::write_file_atomic(fs_, f.dir + "/dovecot-keywords", f.table.text()); !st) {
        return st;
      }
    }
    if (f.uid_validity != 0 && !f.had_uidlist) {
      // Dovecot's version 3: "3 V<uidvalidity> N<next uid>", then "UID :FILENAME" lines.
      std::string text = "3 V" + std::to_string(f.uid_validity) + " N" +
                         std::to_string(f.uid_next) + "\n" + f.uidlist;
      if (auto st = base::write_file_atomic(fs_, f.dir + "/dovecot-uidlist", text); !st) return st;
    }
  }
  std::string subs;
  for (const auto& p : subscribed_paths) {
    if (p.empty()) continue;
    auto name = folder_dir_name(p);
    if (!name) continue;
    subs += name->substr(1) + "\n";
  }
  if (auto st = fs_.make_dir(root_); !st) return st;
  return base::write_file_atomic(fs_, root_ + "/subscriptions", subs);
}

}  // namespace postern::mail::maildir
