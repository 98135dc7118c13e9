#include "dns/rdata.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace postern::dns {
namespace {

uint16_t u16(std::string_view s, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(s[at]) << 8) | static_cast<uint8_t>(s[at + 1]));
}

uint32_t u32(std::string_view s, size_t at) {
  return (static_cast<uint32_t>(u16(s, at)) << 16) | u16(s, at + 2);
}

base::Error malformed(RrType type, std::string_view what) {
  return base::Error::bad_data("malformed " + std::string(type_name(type)) + " RDATA: " +
                               std::string(what));
}

// Skips a possibly compressed name in a whole message (RFC 1035 4.1.4): a pointer ends it.
bool skip_name(std::string_view msg, size_t* pos) {
  while (*pos < msg.size()) {
    auto len = static_cast<uint8_t>(msg[*pos]);
    if (len == 0) {
      ++*pos;
      return true;
    }
    if ((len & 0xc0) == 0xc0) {
      *pos += 2;
      return *pos <= msg.size();
    }
    if ((len & 0xc0) != 0) return false;  // RFC 6891 extended labels: not used
    *pos += 1 + len;
  }
  return false;
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

// A character-string in zone-file form (RFC 1035 5.1): quoted, with \" \\ and \DDD.
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7f) {
      out.push_back('\\');
      out.push_back(static_cast<char>('0' + c / 100));
      out.push_back(static_cast<char>('0' + c / 10 % 10));
      out.push_back(static_cast<char>('0' + c % 10));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace

base::Result<std::string> read_name(std::string_view wire, size_t* pos) {
  std::string name;
  size_t total = 0;
  while (true) {
    if (*pos >= wire.size()) return base::Error::bad_data("name runs past the data");
    auto len = static_cast<uint8_t>(wire[*pos]);
    ++*pos;
    if (len == 0) break;
    if ((len & 0xc0) != 0) return base::Error::bad_data("compressed name in RDATA");
    if (*pos + len > wire.size()) return base::Error::bad_data("label runs past the data");
    total += len + 1;
    if (total > 255) return base::Error::bad_data("name longer than 255 octets");  // RFC 1035 2.3.4
    if (!name.empty()) name.push_back('.');
    for (size_t i = 0; i < len; ++i) {
      auto c = static_cast<unsigned char>(wire[*pos + i]);
      name.push_back(static_cast<char>(std::tolower(c)));
    }
    *pos += len;
  }
  return name;
}

base::Status decode_rdata(RrType type, std::string_view rdata, Record* record) {
  record->type = type;
  record->rdata.assign(rdata);
  size_t pos = 0;
  auto name_at = [&](std::string* out) -> base::Status {
    auto n = read_name(rdata, &pos);
    if (!n) return malformed(type, n.error().message());
    *out = std::move(*n);
    return {};
  };
  switch (type) {
    case RrType::kA:
    case RrType::kAaaa: {
      size_t want = type == RrType::kA ? 4 : 16;
      if (rdata.size() != want) return malformed(type, "wrong length");
      char out[INET6_ADDRSTRLEN];
      ::inet_ntop(type == RrType::kA ? AF_INET : AF_INET6, rdata.data(), out, sizeof out);
      record->text = out;
      return {};
    }
    case RrType::kCname:
    case RrType::kNs:
    case RrType::kPtr:
      if (auto st = name_at(&record->text); !st) return st;
      break;
    case RrType::kMx:  // RFC 1035 3.3.9
      if (rdata.size() < 3) return malformed(type, "too short");
      record->preference = u16(rdata, 0);
      pos = 2;
      if (auto st = name_at(&record->text); !st) return st;
      break;
    case RrType::kTxt:  // RFC 1035 3.3.14: one or more <character-string>s
      if (rdata.empty()) return malformed(type, "no character-string");
      record->strings.clear();
      record->text.clear();
      while (pos < rdata.size()) {
        auto len = static_cast<uint8_t>(rdata[pos]);
        if (pos + 1 + len > rdata.size()) return malformed(type, "string runs past the data");
        record->strings.emplace_back(rdata.substr(pos + 1, len));
        record->text += record->strings.back();  // RFC 7208 3.3: joined without spaces
        pos += 1 + len;
      }
      return {};
    case RrType::kTlsa:  // RFC 6698 2.1
      if (rdata.size() < 3) return malformed(type, "too short");
      for (int i = 0; i < 3; ++i) record->tlsa[i] = static_cast<uint8_t>(rdata[i]);
      record->data.assign(rdata.substr(3));
      return {};
    case RrType::kSoa: {  // RFC 1035 3.3.13
      std::string mname, rname;
      if (auto st = name_at(&mname); !st) return st;
      if (auto st = name_at(&rname); !st) return st;
      if (rdata.size() - pos != 20) return malformed(type, "wrong length");
      record->text = (mname.empty() ? "." : mname) + " " + (rname.empty() ? "." : rname);
      for (int i = 0; i < 5; ++i) record->text += " " + std::to_string(u32(rdata, pos + 4 * i));
      return {};
    }
    default:
      return {};
  }
  if (pos != rdata.size()) return malformed(type, "trailing bytes");
  return {};
}

std::string zone_data(const Record& r) {
  switch (r.type) {
    case RrType::kA:
    case RrType::kAaaa:
    case RrType::kSoa:
      return r.text;
    case RrType::kCname:
    case RrType::kNs:
    case RrType::kPtr:
      return r.text.empty() ? "." : r.text;
    case RrType::kMx:
      return std::to_string(r.preference) + " " + (r.text.empty() ? "." : r.text);
    case RrType::kTxt: {
      std::string out;
      if (r.strings.empty()) return quote(r.text);
      for (const auto& s : r.strings) out += (out.empty() ? "" : " ") + quote(s);
      return out;
    }
    case RrType::kTlsa:
      return std::to_string(r.tlsa[0]) + " " + std::to_string(r.tlsa[1]) + " " +
             std::to_string(r.tlsa[2]) + " " + hex(r.data);
  }
  // RFC 3597 5: the generic form for types we do not decode.
  return "\\# " + std::to_string(r.rdata.size()) + " " + hex(r.rdata);
}

std::string zone_line(const Record& r) {
  return (r.name.empty() ? "." : r.name) + " " + std::to_string(r.ttl) + " " +
         std::string(type_name(r.type)) + " " + zone_data(r);
}

std::optional<uint32_t> negative_ttl(std::string_view msg) {
  if (msg.size() < 12) return std::nullopt;
  uint16_t qd = u16(msg, 4), an = u16(msg, 6), ns = u16(msg, 8);
  size_t pos = 12;
  for (int i = 0; i < qd; ++i) {
    if (!skip_name(msg, &pos) || pos + 4 > msg.size()) return std::nullopt;
    pos += 4;
  }
  for (int i = 0; i < an + ns; ++i) {
    if (!skip_name(msg, &pos) || pos + 10 > msg.size()) return std::nullopt;
    uint16_t type = u16(msg, pos);
    uint32_t ttl = u32(msg, pos + 4);
    uint16_t len = u16(msg, pos + 8);
    pos += 10;
    if (pos + len > msg.size()) return std::nullopt;
    if (i >= an && type == static_cast<uint16_t>(RrType::kSoa) && len >= 22) {
      return std::min(ttl, u32(msg, pos + len - 4));  // MINIMUM is the last field
    }
    pos += len;
  }
  return std::nullopt;
}

}  // namespace postern::dns
