#include "dns/zone_resolver.h"

#include <arpa/inet.h>

#include <cctype>

#include "base/fd.h"

namespace postern::dns {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Splits a zone-file line into fields: quoted strings keep their spaces (escapes decoded),
// a `#` or `;` outside quotes starts a comment. `quoted` marks which fields were quoted.
base::Result<std::vector<std::string>> split_fields(std::string_view line,
                                                    std::vector<bool>* quoted) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    if (i >= line.size() || line[i] == '#' || line[i] == ';') break;
    std::string field;
    if (line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        char c = line[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < line.size()) {
          if (i + 2 < line.size() && std::isdigit(static_cast<unsigned char>(line[i])) &&
              std::isdigit(static_cast<unsigned char>(line[i + 1])) &&
              std::isdigit(static_cast<unsigned char>(line[i + 2]))) {
            int v = (line[i] - '0') * 100 + (line[i + 1] - '0') * 10 + (line[i + 2] - '0');
            if (v > 255) return base::Error::bad_data("\\DDD escape above 255");
            field.push_back(static_cast<char>(v));
            i += 3;
          } else {
            field.push_back(line[i++]);
          }
          continue;
        }
        field.push_back(c);
      }
      if (!closed) return base::Error::bad_data("unterminated quoted string");
      quoted->push_back(true);
    } else {
      while (i < line.size() && !is_space(line[i])) field.push_back(line[i++]);
      quoted->push_back(false);
    }
    out.push_back(std::move(field));
  }
  return out;
}

std::optional<uint32_t> parse_u32(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > 0xffffffffu) return std::nullopt;
  return static_cast<uint32_t>(v);
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

base::Result<std::string> hex_decode(std::string_view hex) {
  if (hex.size() % 2) return base::Error::bad_data("odd number of hex digits");
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto digit = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = digit(hex[i]), lo = digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return base::Error::bad_data("bad hex digit");
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

}  // namespace

std::string normalize_name(std::string_view name) {
  std::string out(name);
  while (!out.empty() && out.back() == '.') out.pop_back();
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

base::Result<std::unique_ptr<ZoneResolver>> ZoneResolver::load(const std::string& path) {
  auto text = base::read_file(path);
  if (!text) return text.error();
  auto z = std::make_unique<ZoneResolver>();
  if (auto st = z->parse(*text, path); !st) return st.error();
  return z;
}

base::Status ZoneResolver::parse(std::string_view text, std::string_view file) {
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    std::vector<bool> quoted;
    auto fields = split_fields(line, &quoted);
    auto where = std::string(file) + ":" + std::to_string(line_no) + ": ";
    if (!fields) return base::Error::bad_data(where + fields.error().message());
    if (fields->empty()) continue;
    auto& f = *fields;
    if (f.size() < 2) return base::Error::bad_data(where + "expected NAME [TTL] TYPE DATA");
    std::string name = normalize_name(f[0]);
    size_t k = 1;
    uint32_t ttl = 3600;
    // NAME [TTL] [IN] TYPE, in either order, as master files write them (RFC 1035 5.1).
    for (int field = 0; field < 2 && k + 1 < f.size(); ++field) {
      if (auto t = parse_u32(f[k])) {
        ttl = *t;
        ++k;
      } else if (upper(f[k]) == "IN") {
        ++k;
      }
    }
    std::string type = upper(f[k]);
    if (type == "SECURE") {
      set_secure(name);
      continue;
    }
    if (type == "SERVFAIL" || type == "TIMEOUT") {
      fail(name, std::nullopt, type == "SERVFAIL" ? Status::kServFail : Status::kTimeout);
      continue;
    }
    auto rr = parse_type(type);
    if (!rr) return base::Error::bad_data(where + "unknown record type " + f[k]);
    ++k;
    if (k < f.size() && !quoted[k] && (upper(f[k]) == "SERVFAIL" || upper(f[k]) == "TIMEOUT")) {
      fail(name, *rr, upper(f[k]) == "SERVFAIL" ? Status::kServFail : Status::kTimeout);
      continue;
    }
    Record r;
    r.name = name;
    r.type = *rr;
    r.ttl = ttl;
    size_t left = f.size() - k;
    auto need = [&](size_t n) -> base::Status {
      if (left != n) {
        return base::Error::bad_data(where + std::string(type_name(*rr)) + " needs " +
                                     std::to_string(n) + " data field(s)");
      }
      return {};
    };
    switch (*rr) {
      case RrType::kA:
      case RrType::kAaaa: {
        if (auto st = need(1); !st) return st;
        unsigned char buf[16];
        int family = *rr == RrType::kA ? AF_INET : AF_INET6;
        if (::inet_pton(family, f[k].c_str(), buf) != 1) {
          return base::Error::bad_data(where + "bad address " + f[k]);
        }
        char out[INET6_ADDRSTRLEN];
        ::inet_ntop(family, buf, out, sizeof out);
        r.text = out;
        r.rdata.assign(reinterpret_cast<char*>(buf), *rr == RrType::kA ? 4 : 16);
        break;
      }
      case RrType::kCname:
      case RrType::kNs:
      case RrType::kPtr:
        if (auto st = need(1); !st) return st;
        r.text = normalize_name(f[k]);
        break;
      case RrType::kMx: {
        if (auto st = need(2); !st) return st;
        auto pref = parse_u32(f[k]);
        if (!pref || *pref > 65535) return base::Error::bad_data(where + "bad MX preference");
        r.preference = static_cast<uint16_t>(*pref);
        r.text = normalize_name(f[k + 1]);
        break;
      }
      case RrType::kTxt:
        if (left == 0) return base::Error::bad_data(where + "TXT needs data");
        for (size_t j = k; j < f.size(); ++j) {
          r.strings.push_back(f[j]);
          r.text += f[j];
        }
        break;
      case RrType::kTlsa: {
        if (left < 4) return base::Error::bad_data(where + "TLSA needs 4 fields");
        for (int j = 0; j < 3; ++j) {
          auto v = parse_u32(f[k + j]);
          if (!v || *v > 255) return base::Error::bad_data(where + "bad TLSA field");
          r.tlsa[j] = static_cast<uint8_t>(*v);
        }
        std::string hex;
        for (size_t j = k + 3; j < f.size(); ++j) hex += f[j];
        auto bytes = hex_decode(hex);
        if (!bytes) return base::Error::bad_data(where + bytes.error().message());
        r.data = *bytes;
        break;
      }
      case RrType::kSoa:
        for (size_t j = k; j < f.size(); ++j) r.text += (j > k ? " " : "") + f[j];
        break;
    }
    add(std::move(r));
  }
  return {};
}

void ZoneResolver::add(Record record) {
  record.name = normalize_name(record.name);
  if (record.type == RrType::kTxt && record.text.empty()) {
    for (const auto& s : record.strings) record.text += s;
  }
  records_[record.name].push_back(std::move(record));
}

void ZoneResolver::fail(const std::string& name, std::optional<RrType> type, Status status) {
  failures_[{normalize_name(name), type ? static_cast<int>(*type) : -1}] = status;
}

void ZoneResolver::set_secure(const std::string& name, bool secure) {
  if (secure) {
    secure_.insert(normalize_name(name));
  } else {
    secure_.erase(normalize_name(name));
  }
}

bool ZoneResolver::exists(const std::string& name) const {
  auto it = records_.lower_bound(name);
  if (it != records_.end() && it->first == name) return true;
  // An empty non-terminal: some owner name ends with "." + name.
  std::string suffix = "." + name;
  for (const auto& [owner, recs] : records_) {
    if (owner.size() > suffix.size() &&
        owner.compare(owner.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return true;
    }
  }
  return false;
}

const std::vector<Record>* ZoneResolver::find(const std::string& name) const {
  if (auto it = records_.find(name); it != records_.end()) return &it->second;
  if (exists(name)) return nullptr;
  // RFC 4592: the closest enclosing wildcard "*.parent".
  for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
    if (auto it = records_.find("*" + name.substr(dot)); it != records_.end()) return &it->second;
  }
  return nullptr;
}

Answer ZoneResolver::answer(const std::string& query_name, RrType type) const {
  Answer a;
  std::string name = normalize_name(query_name);
  for (int hops = 0; hops < 9; ++hops) {
    for (int t : {static_cast<int>(type), -1}) {
      if (auto f = failures_.find({name, t}); f != failures_.end()) {
        a.status = f->second;
        a.records.clear();
        a.why = "forced by the zone file";
        return a;
      }
    }
    a.secure = secure_.count(name) > 0;
    const std::vector<Record>* recs = find(name);
    if (recs == nullptr) {
      a.status = exists(name) ? Status::kNoData : Status::kNxDomain;
      return a;
    }
    const Record* cname = nullptr;
    for (const auto& r : *recs) {
      if (r.type == type) {
        Record copy = r;
        copy.name = name;  // wildcard answers carry the asked name
        a.records.push_back(std::move(copy));
      } else if (r.type == RrType::kCname) {
        cname = &r;
      }
    }
    if (!a.records.empty()) {
      a.status = Status::kOk;
      return a;
    }
    if (cname == nullptr || type == RrType::kCname) {
      a.status = Status::kNoData;
      return a;
    }
    name = cname->text;  // RFC 1034 3.6.2: follow the alias
  }
  a.status = Status::kServFail;
  a.why = "CNAME chain too long";
  return a;
}

void ZoneResolver::query(const std::string& name, RrType type,
                         std::function<void(Answer)> done) {
  queries_.emplace_back(normalize_name(name), type);
  done(answer(name, type));
}

}  // namespace postern::dns
