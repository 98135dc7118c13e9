// Loading, merging, substitution, validation and typed access (see config.h).
//
// The pipeline: parse the main file into a Node tree (yaml_tree.cpp) → merge the files of
// its `include` → apply each --set → walk the tree against the schema table
// (schema.cpp), converting every value and collecting every diagnostic → fill defaults
// → cross-key checks. Nothing stops at the first error.
#include <unistd.h>
#include <yaml-cpp/emitter.h>
#include <yaml-cpp/emittermanip.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <variant>

#include "base/fd.h"
#include "config/internal.h"

namespace postern::config {

using internal::KeySpec;
using internal::Loc;
using internal::Node;
using internal::Type;

std::string Diagnostic::str() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + message;
}

using Value = std::variant<std::string, int64_t, bool, std::chrono::seconds, uint64_t,
                           std::vector<std::string>, std::vector<Config>>;

struct Config::Impl {
  struct Entry {
    const KeySpec* spec = nullptr;
    Value value;
    Loc loc;
    bool is_default = false;
  };
  std::string table_prefix;  // "" at the top; "listeners[]." for an item of listeners
  std::map<std::string, Entry, std::less<>> entries;  // key relative to table_prefix
  std::set<std::string> given;  // keys present in the YAML, even when their value was bad
  std::vector<Diagnostic> warnings;
  std::string file;
  std::vector<std::string> included;
};

struct ConfigAccess {
  static Config make(std::shared_ptr<const Config::Impl> impl) {
    Config c;
    c.impl_ = std::move(impl);
    return c;
  }
  static const Config::Impl& impl(const Config& c) { return *c.impl_; }
};

namespace {

namespace fs = std::filesystem;

// ---- small helpers ----

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string resolve_path(const std::string& dir, const std::string& p) {
  fs::path path(p);
  if (path.is_relative()) {
    std::error_code ec;
    fs::path base = dir.empty() ? fs::current_path(ec) : fs::absolute(dir, ec);
    path = base / path;
  }
  return path.lexically_normal().string();
}

std::string dir_of(const std::string& file) {
  fs::path parent = fs::path(file).parent_path();
  return parent.empty() ? "." : parent.string();
}

// The message of a failed read without the "path: " prefix from_errno puts in front.
std::string reason(const base::Error& e, const std::string& path) {
  const std::string& m = e.message();
  if (m.rfind(path + ": ", 0) == 0) return m.substr(path.size() + 2);
  return m;
}

// ${env:NAME}, ${file:PATH}, $$. Returns false with *err set on failure.
bool substitute(std::string_view in, const std::string& dir, std::string* out, std::string* err) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c != '$' || i + 1 >= in.size() || (in[i + 1] != '$' && in[i + 1] != '{')) {
      *out += c;
      continue;
    }
    if (in[i + 1] == '$') {
      *out += '$';
      ++i;
      continue;
    }
    size_t close = in.find('}', i + 2);
    if (close == std::string_view::npos) {
      *err = "unterminated ${ (write $$ for a literal $)";
      return false;
    }
    std::string_view body = in.substr(i + 2, close - i - 2);
    if (body.starts_with("env:")) {
      std::string name(body.substr(4));
      const char* v = name.empty() ? nullptr : std::getenv(name.c_str());
      if (v == nullptr) {
        *err = "${env:" + name + "}: environment variable " + name + " is not set";
        return false;
      }
      *out += v;
    } else if (body.starts_with("file:")) {
      std::string p(body.substr(5));
      std::string full = p.empty() ? p : resolve_path(dir, p);
      auto data = base::read_file(full);
      if (p.empty() || !data) {
        *err = "${file:" + p + "}: cannot read " + (p.empty() ? "an empty path" : full) +
               (data ? "" : ": " + reason(data.error(), full));
        return false;
      }
      std::string s = std::move(*data);
      if (s.ends_with("\r\n")) {
        s.resize(s.size() - 2);
      } else if (s.ends_with('\n')) {
        s.pop_back();
      }
      *out += s;
    } else {
      *err = "unknown substitution ${" + std::string(body) +
             "} (use ${env:NAME}, ${file:PATH}, or $$ for a literal $)";
      return false;
    }
    i = close;
  }
  return true;
}

// ---- scalar types ----

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view s) {
  if (s == "0") return std::chrono::seconds(0);
  if (s.empty()) return std::nullopt;
  int64_t total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    int64_t n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      n = n * 10 + (s[i] - '0');
      if (n > 1'000'000'000) return std::nullopt;
      ++i;
    }
    if (i == start || i >= s.size()) return std::nullopt;
    int64_t unit = 0;
    switch (s[i]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      default:
        return std::nullopt;
    }
    ++i;
    total += n * unit;
  }
  return std::chrono::seconds(total);
}

std::optional<uint64_t> parse_size(std::string_view s) {
  size_t i = 0;
  uint64_t n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (n > (UINT64_MAX - 9) / 10) return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(s[i] - '0');
    ++i;
  }
  if (i == 0) return std::nullopt;
  std::string unit;
  for (char c : s.substr(i)) unit += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  int shift = -1;
  static const std::pair<const char*, int> kUnits[] = {
      {"", 0},     {"B", 0},  {"K", 10},  {"KB", 10},  {"KIB", 10}, {"M", 20},  {"MB", 20},
      {"MIB", 20}, {"G", 30}, {"GB", 30}, {"GIB", 30}, {"T", 40},   {"TB", 40}, {"TIB", 40}};
  for (const auto& [name, sh] : kUnits) {
    if (unit == name) shift = sh;
  }
  if (shift < 0) return std::nullopt;
  if (shift > 0 && n > (UINT64_MAX >> shift)) return std::nullopt;
  return n << shift;
}

bool valid_host_port(std::string_view s) {
  std::string_view host, port;
  if (s.starts_with('[')) {
    size_t close = s.find("]:");
    if (close == std::string_view::npos) return false;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return false;  // IPv6 needs [ ]
  }
  if (host.empty()) return false;
  for (unsigned char c : host) {
    if (c <= ' ' || c == 0x7f || c == '/' || c == '[' || c == ']') return false;
  }
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  int p = std::stoi(std::string(port));
  return p >= 1 && p <= 65535;
}

bool enum_has(std::string_view values, std::string_view v) {
  size_t start = 0;
  while (true) {
    size_t bar = values.find('|', start);
    if (values.substr(start, bar - start) == v) return true;
    if (bar == std::string_view::npos) return false;
    start = bar + 1;
  }
}

std::string format_duration(std::chrono::seconds d) {
  int64_t s = d.count();
  if (s == 0) return "0s";
  if (s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

std::string format_size(uint64_t n) {
  if (n == 0) return "0";
  static const std::pair<const char*, int> kUnits[] = {{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}};
  for (const auto& [name, sh] : kUnits) {
    if (n % (uint64_t{1} << sh) == 0) return std::to_string(n >> sh) + name;
  }
  return std::to_string(n);
}

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

// ---- "did you mean" ----

// Edits (insert, delete, substitute, swap two neighbours) that turn a into b.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// Names of the keys and sections directly below `prefix` (a full spec path prefix such
// as "" or "log." or "listeners[].").
std::vector<std::string> children_of(std::string_view prefix) {
  std::vector<std::string> out;
  for (const KeySpec& s : internal::schema()) {
    if (!s.path.starts_with(prefix)) continue;
    std::string_view rest = s.path.substr(prefix.size());
    std::string_view first = rest.substr(0, rest.find('.'));
    if (first.ends_with("[]")) continue;  // the table's own row names it
    if (std::find(out.begin(), out.end(), first) == out.end()) out.emplace_back(first);
  }
  return out;
}

bool is_section(std::string_view path) {
  std::string p = std::string(path) + ".";
  for (const KeySpec& s : internal::schema()) {
    if (s.path.starts_with(p)) return true;
  }
  return false;
}

// " (did you mean log.level?)" or "".
// `rest` is appended to a suggested sibling (--set lgo.level → log.level).
std::string suggestion(std::string_view spec_prefix, std::string_view key,
                       std::string_view display_prefix, std::string_view rest = "") {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const std::string& c : children_of(spec_prefix)) {
    size_t d = edit_distance(key, c);
    size_t limit = std::max(key.size(), c.size()) >= 5 ? 2 : 1;
    bool prefix = key.size() >= 3 && (c.starts_with(key) || key.starts_with(c));
    if ((d <= limit || prefix) && d < best_d) {
      best = std::string(display_prefix) + c + std::string(rest);
      best_d = d;
    }
  }
  if (best.empty()) {
    // The right key at the wrong level: `level:` at the top instead of under `log:`.
    for (const KeySpec& s : internal::schema()) {
      std::string_view last =
          s.path.substr(s.path.rfind('.') == std::string_view::npos ? 0 : s.path.rfind('.') + 1);
      if (last == key && s.path.find("[]") == std::string_view::npos) {
        best = std::string(s.path);
        break;
      }
    }
  }
  return best.empty() ? "" : " (did you mean " + best + "?)";
}

// ---- the loader ----

class Loader {
 public:
  std::vector<Diagnostic> diags;
  std::vector<std::string> included;

  Node read_main(const std::string& path) {
    Node root = read_file(path, path);
    if (Node* inc = root.find("include")) include(root, *inc, path);
    return root;
  }

  void apply_set(Node& root, const std::string& set) {
    Loc where{"--set " + set, "", 0, 0};
    size_t eq = set.find('=');
    if (eq == std::string::npos || eq == 0) {
      diags.push_back(internal::diag(where, "expected key=value"));
      return;
    }
    std::string key = set.substr(0, eq);
    std::string text = set.substr(eq + 1);
    // Check the key against the schema, component by component.
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
      size_t dot = key.find('.', start);
      parts.push_back(key.substr(start, dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    std::string prefix;
    for (size_t i = 0; i < parts.size(); ++i) {
      std::string path = prefix + parts[i];
      bool last = i + 1 == parts.size();
      if ((internal::find_spec(path) != nullptr || is_section(path)) && last) break;
      if (!parts[i].empty() && is_section(path) && !last) {
        prefix = path + ".";
        continue;
      }
      std::string rest;  // none when parts[i] is a leaf: log.level.x → log.level
      if (internal::find_spec(path) == nullptr) {
        for (size_t j = i + 1; j < parts.size(); ++j) rest += "." + parts[j];
      }
      diags.push_back(
          internal::diag(where, "unknown key " + key + suggestion(prefix, parts[i], prefix, rest)));
      return;
    }
    if (key == "include") {
      diags.push_back(internal::diag(where, "include cannot be given with --set"));
      return;
    }
    Node value;
    if (text.empty()) {
      value.kind = Node::Kind::kScalar;  // --set store.url= : an empty string
    } else {
      size_t before = diags.size();
      value = internal::parse_yaml(text, where.file, "", false, &diags);
      if (diags.size() != before) return;
    }
    set_loc(value, where);
    Node* cur = &root;
    for (size_t i = 0; i < parts.size(); ++i) {
      Node* next = cur->find(parts[i]);
      if (next == nullptr) {
        Node k;
        k.kind = Node::Kind::kScalar;
        k.scalar = parts[i];
        k.loc = where;
        Node v;
        v.kind = Node::Kind::kMap;
        v.loc = where;
        cur->entries.push_back({std::move(k), std::move(v)});
        next = &cur->entries.back().value;
      }
      if (i + 1 == parts.size()) {
        if (next->kind == Node::Kind::kMap && value.kind == Node::Kind::kMap) {
          override_merge(*next, value);
        } else {
          *next = std::move(value);
        }
      } else if (next->kind != Node::Kind::kMap) {
        next->kind = Node::Kind::kMap;
        next->entries.clear();
        next->loc = where;
      }
      cur = next;
    }
  }

  // Walks `map` against the schema; values go to out.entries.
  void walk_map(const Node& map, const std::string& rel_prefix, const std::string& display_prefix,
                Config::Impl& out) {
    for (const auto& [k, v] : map.entries) {
      std::string rel = rel_prefix + k.scalar;
      std::string path = out.table_prefix + rel;
      std::string display = display_prefix + rel;
      if (const KeySpec* spec = internal::find_spec(path)) {
        out.given.insert(rel);
        if (auto value = convert(*spec, v, display)) {
          out.entries[rel] = {spec, std::move(*value), v.loc, false};
        }
      } else if (is_section(path)) {
        if (v.kind == Node::Kind::kMap) {
          walk_map(v, rel + ".", display_prefix, out);
        } else if (v.kind != Node::Kind::kNull) {
          diags.push_back(
              internal::diag(v.loc, display + ": expected a mapping (a section with keys " +
                                        join(children_of(path + "."), ", ") + "), got " + got(v)));
        }
      } else {
        diags.push_back(internal::diag(
            k.loc,
            "unknown key " + display +
                suggestion(out.table_prefix + rel_prefix, k.scalar, display_prefix + rel_prefix)));
      }
    }
  }

  // Required keys and defaults of one table level (the top, or one item of a table).
  void finish_level(Config::Impl& out, const Loc& where, const std::string& display_prefix) {
    for (const KeySpec& s : internal::schema()) {
      if (!s.path.starts_with(out.table_prefix)) continue;
      std::string rel(s.path.substr(out.table_prefix.size()));
      if (rel.find("[]") != std::string::npos) continue;
      if (out.entries.count(rel) || out.given.count(rel)) continue;
      if (s.required) {
        std::string item = display_prefix.empty()
                               ? ""
                               : display_prefix.substr(0, display_prefix.size() - 1) + ": ";
        diags.push_back(internal::diag(where, item + "missing required key " + rel));
        continue;
      }
      out.entries[rel] = {&s, default_value(s, out), Loc{}, true};
    }
  }

  void cross_checks(Config::Impl& out) {
    const auto& engine = out.entries.at("store.engine");
    const auto& url = out.entries.at("store.url");
    const std::string& e = std::get<std::string>(engine.value);
    const std::string& u = std::get<std::string>(url.value);
    if (e == "postgresql" && u.empty()) {
      Loc where = engine.is_default ? url.loc : engine.loc;
      diags.push_back(internal::diag(where, "store.url: required when store.engine is postgresql"));
    }
    if (e == "sqlite" && !u.empty()) {
      out.warnings.push_back(
          internal::diag(url.loc, "store.url is ignored when store.engine is sqlite"));
    }
  }

 private:
  static std::string join(const std::vector<std::string>& v, const std::string& sep) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
    return out;
  }

  static void set_loc(Node& n, const Loc& loc) {
    n.loc = loc;
    for (auto& i : n.items) set_loc(i, loc);
    for (auto& [k, v] : n.entries) {
      set_loc(k, loc);
      set_loc(v, loc);
    }
  }

  // --set log={level: debug}: later values win, other keys of the section stay.
  static void override_merge(Node& dst, const Node& src) {
    for (const auto& [k, v] : src.entries) {
      Node* d = dst.find(k.scalar);
      if (d == nullptr) {
        dst.entries.push_back({k, v});
      } else if (d->kind == Node::Kind::kMap && v.kind == Node::Kind::kMap) {
        override_merge(*d, v);
      } else {
        *d = v;
      }
    }
  }

  Node read_file(const std::string& path, const std::string& display) {
    auto text = base::read_file(path);
    Node empty;
    empty.kind = Node::Kind::kMap;
    empty.loc = Loc{display, dir_of(display), 1, 1};
    if (!text) {
      diags.push_back({display, 0, 0, "cannot read: " + reason(text.error(), path)});
      return empty;
    }
    Node root = internal::parse_yaml(*text, display, dir_of(display), true, &diags);
    if (root.kind == Node::Kind::kNull) return empty;
    if (root.kind != Node::Kind::kMap) {
      diags.push_back(internal::diag(root.loc, "the top level must be a mapping of keys"));
      return empty;
    }
    return root;
  }

  void include(Node& root, const Node& inc, const std::string& main) {
    std::string value, err;
    if (inc.kind != Node::Kind::kScalar) return;                     // validation reports the type
    if (!substitute(inc.scalar, inc.loc.dir, &value, &err)) return;  // and this
    if (value.empty()) return;
    std::string target = resolve_path(inc.loc.dir, value);
    std::error_code ec;
    std::vector<std::string> names;  // display names
    if (fs::is_directory(target, ec)) {
      fs::directory_iterator it(target, ec), end;
      for (; !ec && it != end; it.increment(ec)) {
        const fs::path& p = it->path();
        std::error_code ec2;
        if (p.extension() == ".yaml" && it->is_regular_file(ec2)) {
          names.push_back(
              (fs::path(inc.loc.dir) / value / p.filename()).lexically_normal().string());
        }
      }
      if (ec) {
        diags.push_back(
            internal::diag(inc.loc, "include: cannot list " + target + ": " + ec.message()));
      }
      std::sort(names.begin(), names.end());
    } else if (fs::exists(target, ec)) {
      names.push_back((fs::path(inc.loc.dir) / value).lexically_normal().string());
    } else {
      diags.push_back(
          internal::diag(inc.loc, "include: " + target + ": no such file or directory"));
      return;
    }
    for (const std::string& name : names) {
      included.push_back(name);
      Node sub = read_file(name, name);
      for (auto it = sub.entries.begin(); it != sub.entries.end(); ++it) {
        if (it->key.scalar == "include") {
          diags.push_back(internal::diag(
              it->key.loc, "include is only allowed in the main file (" + main + ")"));
          sub.entries.erase(it);
          break;
        }
      }
      merge(root, sub, "");
    }
  }

  // Merges an included file: mappings recursively; anything defined twice is an error.
  void merge(Node& dst, const Node& src, const std::string& path) {
    for (const auto& [k, v] : src.entries) {
      std::string name = path.empty() ? k.scalar : path + "." + k.scalar;
      auto it = dst.entries.begin();
      while (it != dst.entries.end() && it->key.scalar != k.scalar) ++it;
      if (it == dst.entries.end()) {
        dst.entries.push_back({k, v});
      } else if (it->value.kind == Node::Kind::kMap && v.kind == Node::Kind::kMap) {
        merge(it->value, v, name);
      } else if (it->value.kind == Node::Kind::kNull && v.kind == Node::Kind::kMap) {
        it->value = v;  // `log:` left empty in one file, filled in another
      } else {
        diags.push_back(internal::diag(k.loc, "duplicate key " + name + " (first defined at " +
                                                  internal::loc_str(it->key.loc) + ")"));
      }
    }
  }

  std::optional<Value> convert(const KeySpec& spec, const Node& v, const std::string& display) {
    if (spec.type == Type::kTable) return convert_table(spec, v, display);
    if (spec.type == Type::kList) {
      if (v.kind == Node::Kind::kNull) return std::vector<std::string>{};
      if (v.kind != Node::Kind::kSeq) {
        diags.push_back(internal::diag(
            v.loc, display + ": expected " + internal::type_description(spec) + ", got " + got(v)));
        return std::nullopt;
      }
      KeySpec item{.path = spec.path, .type = spec.item};
      std::vector<std::string> out;
      bool ok = true;
      for (size_t i = 0; i < v.items.size(); ++i) {
        auto x = convert_scalar(item, v.items[i], display + "[" + std::to_string(i) + "]");
        if (x) {
          // Items are kept as written (a list of durations: "5m"); the reader parses them
          // again with config::parse_duration_text.
          out.push_back(std::holds_alternative<std::string>(*x) ? std::get<std::string>(*x)
                                                                : v.items[i].scalar);
        } else {
          ok = false;
        }
      }
      if (!ok) return std::nullopt;
      return out;
    }
    return convert_scalar(spec, v, display);
  }

  static std::string got(const Node& v) {
    switch (v.kind) {
      case Node::Kind::kNull:
        return "an empty value";
      case Node::Kind::kSeq:
        return "a list";
      case Node::Kind::kMap:
        return "a mapping";
      case Node::Kind::kScalar:
        return quote(v.scalar);
    }
    return "?";
  }

  std::optional<Value> convert_scalar(const KeySpec& spec, const Node& v,
                                      const std::string& display) {
    auto fail = [&](std::string what) -> std::optional<Value> {
      diags.push_back(internal::diag(v.loc, display + ": expected " + what + ", got " + got(v)));
      return std::nullopt;
    };
    std::string want = internal::type_description(spec);
    if (v.kind != Node::Kind::kScalar) return fail(want);
    std::string s, err;
    if (!substitute(v.scalar, v.loc.dir, &s, &err)) {
      diags.push_back(internal::diag(v.loc, display + ": " + err));
      return std::nullopt;
    }
    switch (spec.type) {
      case Type::kString:
        return s;
      case Type::kPath:
        if (s.empty()) return fail(want);
        return resolve_path(v.loc.dir, s);
      case Type::kEnum:
        if (!enum_has(spec.values, s)) return fail(want);
        return s;
      case Type::kHostPort:
        // A listener may also be a Unix socket (mode local; lib/config/smtp.cpp checks
        // which modes take which).
        if (spec.path == "listeners[].address" && s.starts_with("unix:/")) return s;
        if (!valid_host_port(s)) return fail(want);
        return s;
      case Type::kInt:
        if (auto n = parse_int(s)) return *n;
        return fail(want);
      case Type::kBool:
        if (s == "true") return true;
        if (s == "false") return false;
        return fail(want);
      case Type::kDuration:
        if (auto d = parse_duration(s)) return *d;
        return fail(want);
      case Type::kSize:
        if (auto n = parse_size(s)) return *n;
        return fail(want);
      case Type::kList:
      case Type::kTable:
        break;
    }
    return fail(want);
  }

  std::optional<Value> convert_table(const KeySpec& spec, const Node& v,
                                     const std::string& display) {
    if (v.kind == Node::Kind::kNull) return std::vector<Config>{};
    if (v.kind != Node::Kind::kSeq) {
      diags.push_back(
          internal::diag(v.loc, display + ": expected a list of mappings, got " + got(v)));
      return std::nullopt;
    }
    std::vector<Config> items;
    size_t before = diags.size();
    for (size_t i = 0; i < v.items.size(); ++i) {
      const Node& item = v.items[i];
      std::string item_display = display + "[" + std::to_string(i) + "].";
      if (item.kind != Node::Kind::kMap) {
        diags.push_back(internal::diag(item.loc, item_display.substr(0, item_display.size() - 1) +
                                                     ": expected a mapping, got " + got(item)));
        continue;
      }
      auto impl = std::make_shared<Config::Impl>();
      impl->table_prefix = std::string(spec.path) + "[].";
      walk_map(item, "", item_display, *impl);
      finish_level(*impl, item.loc, item_display);
      items.push_back(ConfigAccess::make(std::move(impl)));
    }
    if (diags.size() != before) return std::nullopt;
    // unique fields
    std::string prefix = std::string(spec.path) + "[].";
    for (const KeySpec& f : internal::schema()) {
      if (!f.unique || !f.path.starts_with(prefix)) continue;
      std::string rel(f.path.substr(prefix.size()));
      std::map<std::string, Loc> seen;
      for (size_t i = 0; i < items.size(); ++i) {
        const auto& e = ConfigAccess::impl(items[i]).entries.at(rel);
        const std::string& val = std::get<std::string>(e.value);
        auto [it, inserted] = seen.emplace(val, e.loc);
        if (!inserted) {
          diags.push_back(internal::diag(e.loc, display + "[" + std::to_string(i) + "]." + rel +
                                                    ": " + quote(val) + " is already used (at " +
                                                    internal::loc_str(it->second) + ")"));
        }
      }
    }
    if (diags.size() != before) return std::nullopt;
    return items;
  }

  // Defaults may refer to ${sys:hostname} and to other keys of the same level, ${key}.
  Value default_value(const KeySpec& s, const Config::Impl& out) {
    std::string text;
    std::string_view d = s.default_value;
    for (size_t i = 0; i < d.size(); ++i) {
      if (d.substr(i).starts_with("${")) {
        size_t close = d.find('}', i);
        std::string ref(d.substr(i + 2, close - i - 2));
        if (ref == "sys:hostname") {
          text += hostname();
        } else if (auto it = out.entries.find(ref); it != out.entries.end()) {
          text += std::get<std::string>(it->second.value);
        }
        i = close;
      } else {
        text += d[i];
      }
    }
    if (s.type == Type::kTable) return std::vector<Config>{};
    if (text.empty() && s.type != Type::kList) return std::string();
    // The text is already expanded; escape $ so substitution leaves it alone.
    std::string escaped;
    for (char c : text) escaped += c == '$' ? std::string("$$") : std::string(1, c);
    const std::string where = "default for " + std::string(s.path);
    if (s.type == Type::kList) {
      // A flow list, "[5m, 10m, 4h]", read as YAML like any value.
      Node n = internal::parse_yaml(escaped, where, "", false, &diags);
      set_loc(n, Loc{where, "", 0, 0});
      if (auto v = convert(s, n, std::string(s.path))) return *v;
      return std::vector<std::string>{};  // a bad default is a bug in the table; the test catches it
    }
    Node n;
    n.kind = Node::Kind::kScalar;
    n.loc = Loc{where, "", 0, 0};
    n.scalar = escaped;
    if (auto v = convert_scalar(s, n, std::string(s.path))) return *v;
    return std::string();  // a bad default is a bug in the table; the test catches it
  }
};

const Config::Impl::Entry& entry(const Config::Impl& impl, std::string_view key) {
  auto it = impl.entries.find(key);
  if (it == impl.entries.end()) {
    throw std::logic_error("config: no key " + impl.table_prefix + std::string(key));
  }
  return it->second;
}

template <typename T>
const T& typed(const Config::Impl& impl, std::string_view key, const char* what) {
  const auto& e = entry(impl, key);
  const T* v = std::get_if<T>(&e.value);
  if (v == nullptr) {
    throw std::logic_error("config: " + impl.table_prefix + std::string(key) + " is not " + what);
  }
  return *v;
}

// ---- effective YAML ----

void emit_level(YAML::Emitter& e, const Config::Impl& impl, const std::string& rel_prefix);

void emit_value(YAML::Emitter& e, const Config::Impl::Entry& entry) {
  const Value& v = entry.value;
  switch (entry.spec->type) {
    case Type::kDuration:
      e << format_duration(std::get<std::chrono::seconds>(v));
      return;
    case Type::kSize:
      e << format_size(std::get<uint64_t>(v));
      return;
    case Type::kInt:
      e << std::get<int64_t>(v);
      return;
    case Type::kBool:
      e << YAML::TrueFalseBool << std::get<bool>(v);
      return;
    case Type::kList: {
      const auto& list = std::get<std::vector<std::string>>(v);
      if (list.empty()) e << YAML::Flow;
      e << YAML::BeginSeq;
      for (const auto& s : list) e << s;
      e << YAML::EndSeq;
      return;
    }
    case Type::kTable: {
      const auto& items = std::get<std::vector<Config>>(v);
      if (items.empty()) e << YAML::Flow;
      e << YAML::BeginSeq;
      for (const Config& c : items) {
        e << YAML::BeginMap;
        emit_level(e, ConfigAccess::impl(c), "");
        e << YAML::EndMap;
      }
      e << YAML::EndSeq;
      return;
    }
    default: {
      const std::string& s = std::get<std::string>(v);
      // Quote what the loader would otherwise substitute: write $ as $$.
      std::string out;
      for (char c : s) out += c == '$' ? std::string("$$") : std::string(1, c);
      if (out.empty()) {
        e << YAML::DoubleQuoted << out;
      } else {
        e << out;
      }
      return;
    }
  }
}

void emit_level(YAML::Emitter& e, const Config::Impl& impl, const std::string& rel_prefix) {
  std::string prefix = impl.table_prefix + rel_prefix;
  for (const std::string& child : children_of(prefix)) {
    std::string rel = rel_prefix + child;
    if (impl.table_prefix.empty() && rel == "include") continue;
    auto it = impl.entries.find(rel);
    if (it != impl.entries.end()) {
      // An unset path (dns.trust_anchor) is left out: "" is not a path load() accepts.
      if (it->second.spec->type == Type::kPath &&
          std::get<std::string>(it->second.value).empty()) {
        continue;
      }
      e << YAML::Key << child << YAML::Value;
      emit_value(e, it->second);
    } else if (is_section(impl.table_prefix + rel)) {
      e << YAML::Key << child << YAML::Value << YAML::BeginMap;
      emit_level(e, impl, rel + ".");
      e << YAML::EndMap;
    }
  }
}

}  // namespace

std::optional<std::chrono::seconds> parse_duration_text(std::string_view s) {
  return parse_duration(s);
}

// ---- Config ----

Config::Config() : impl_(std::make_shared<Impl>()) {}

const std::string& Config::get_string(std::string_view key) const {
  return typed<std::string>(*impl_, key, "a string");
}
int64_t Config::get_int(std::string_view key) const {
  return typed<int64_t>(*impl_, key, "an integer");
}
bool Config::get_bool(std::string_view key) const { return typed<bool>(*impl_, key, "a bool"); }
std::chrono::seconds Config::get_duration(std::string_view key) const {
  return typed<std::chrono::seconds>(*impl_, key, "a duration");
}
uint64_t Config::get_size(std::string_view key) const {
  return typed<uint64_t>(*impl_, key, "a size");
}
const std::vector<std::string>& Config::get_list(std::string_view key) const {
  return typed<std::vector<std::string>>(*impl_, key, "a list");
}
const std::vector<Config>& Config::get_maps(std::string_view key) const {
  return typed<std::vector<Config>>(*impl_, key, "a list of mappings");
}

std::string Config::origin(std::string_view key) const {
  const auto& e = entry(*impl_, key);
  if (e.is_default) return "default";
  return internal::loc_str(e.loc);
}

const std::vector<Diagnostic>& Config::warnings() const { return impl_->warnings; }
const std::string& Config::file() const { return impl_->file; }
const std::vector<std::string>& Config::included_files() const { return impl_->included; }

// ---- loading ----

std::vector<Diagnostic> load_diagnostics(const std::string& path,
                                         const std::vector<std::string>& sets, Config* out) {
  Loader loader;
  Node root;
  root.kind = Node::Kind::kMap;
  root.loc = Loc{path.empty() ? "defaults" : path, "", path.empty() ? 0 : 1, 1};
  if (!path.empty()) root = loader.read_main(path);
  for (const std::string& s : sets) loader.apply_set(root, s);
  auto impl = std::make_shared<Config::Impl>();
  impl->file = path;
  impl->included = loader.included;
  loader.walk_map(root, "", "", *impl);
  loader.finish_level(*impl, root.loc, "");
  if (loader.diags.empty()) loader.cross_checks(*impl);
  if (loader.diags.empty() && out != nullptr) *out = ConfigAccess::make(std::move(impl));
  return std::move(loader.diags);
}

base::Result<Config> load(const std::string& path, const std::vector<std::string>& sets) {
  Config config;
  auto diags = load_diagnostics(path, sets, &config);
  if (diags.empty()) return config;
  std::string message;
  for (size_t i = 0; i < diags.size(); ++i) message += (i ? "\n" : "") + diags[i].str();
  return base::Error::config(std::move(message));
}

Config defaults() {
  Config config;
  (void)load_diagnostics("", {}, &config);
  return config;
}

base::LogOptions log_options(const Config& config) {
  base::LogOptions o;
  o.format = base::parse_log_format(config.get_string("log.format")).value_or(o.format);
  const std::string& level = config.get_string("log.level");
  if (level == "debug") o.level = base::LogLevel::kDebug;
  if (level == "info") o.level = base::LogLevel::kInfo;
  if (level == "warn") o.level = base::LogLevel::kWarn;
  if (level == "error") o.level = base::LogLevel::kError;
  return o;
}

base::ConfigLoader loader(Config* out) {
  return [out](const base::CommonOptions& common) -> base::Status {
    auto config = load(common.config_file, common.sets);
    if (!config) return config.error();
    base::LogOptions current = base::log_options();
    base::LogOptions wanted = log_options(*config);
    wanted.program = current.program;
    wanted.file = current.file;
    bool config_names_format = !common.config_file.empty() || !config->is_default("log.format");
    if (common.log_format_given || !config_names_format) {
      wanted.format = base::parse_log_format(common.log_format).value_or(current.format);
    }
    base::log_configure(wanted);
    for (const Diagnostic& w : config->warnings()) {
      std::string line = w.str();
      base::log_warn("config_warning", {{"message", line}});
    }
    *out = std::move(*config);
    return {};
  };
}

std::string effective_yaml(const Config& config) {
  const Config::Impl& impl = ConfigAccess::impl(config);
  YAML::Emitter e;
  e.SetIndent(2);
  std::string header = "# effective configuration";
  if (!impl.file.empty()) header += " of " + impl.file;
  header += "\n";
  auto inc = impl.entries.find("include");
  if (inc != impl.entries.end() && !inc->second.is_default) {
    header +=
        "# include: " + std::get<std::string>(inc->second.value) + " (already merged below)\n";
  }
  e << YAML::BeginMap;
  emit_level(e, impl, "");
  e << YAML::EndMap;
  return header + e.c_str() + "\n";
}

}  // namespace postern::config
