// Header field values: parsing and decoding (RFC 5322, RFC 2045/2047/2231, RFC 6532).
//
// Every function takes the raw field value exactly as it appears after "Name:" — possibly
// folded, possibly with its trailing CRLF or LF, possibly malformed — and never fails:
// malformed input yields the best-effort reading a mail client would show. Decoded text is
// always valid UTF-8.
//
//   auto from = parse_address_list(" \"Joe Q. Public\" <john.q.public@example.com>\r\n");
//   // from.list[0].name == "Joe Q. Public", from.list[0].address == "john.q.public@example.com"
//   auto ct = parse_content_type("text/plain; charset*=us-ascii'en'%41bc");
//   // ct.type == "text", ct.subtype == "plain", *ct.param("charset") == "Abc"
//   decode_unstructured("=?iso-8859-1?q?caf=E9?=")  // "café"
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::mail {

// ASCII case-insensitive equality, for field names and MIME tokens.
bool iequals(std::string_view a, std::string_view b);
// ASCII lower case (other bytes as they are), for field names, tokens and domain names.
std::string to_lower(std::string_view s);

// Unfolds (RFC 5322 2.2.3: CRLF/LF followed by WSP is removed) and trims surrounding
// whitespace, including the trailing line break. No decoding.
std::string unfold(std::string_view raw);

// Unstructured text (Subject, Comments, ...): unfold, decode RFC 2047 encoded words
// (including common malformed variants: words inside quotes or tokens, missing spaces,
// unknown charsets → bytes shown as UTF-8/Latin-1), raw 8-bit bytes as UTF-8 (RFC 6532)
// or Latin-1 when invalid, whitespace runs kept as the sender wrote them except folding.
std::string decode_unstructured(std::string_view raw);

// Decodes only RFC 2047 encoded words in already-unfolded text (used by the others).
std::string decode_encoded_words(std::string_view text);

// ---- addresses (RFC 5322 3.4, with obsolete syntax 4.4) ----

struct Address {
  std::optional<std::string> name;     // display name, decoded; nullopt when absent
  std::optional<std::string> address;  // addr-spec "local@domain"; nullopt when absent
};

struct AddressGroup {
  std::optional<std::string> name;
  std::vector<Address> addresses;
};

// An address field is either a plain list or (when any group syntax appears) a list of
// groups, where addresses outside any group form a group with no name.
struct AddressList {
  std::vector<Address> list;
  std::vector<AddressGroup> groups;
  bool is_group() const { return !groups.empty(); }
  // Every address in order, groups flattened.
  std::vector<Address> flatten() const;
};

AddressList parse_address_list(std::string_view raw);

// ---- Content-Type / Content-Disposition (RFC 2045 5.1, RFC 2183, RFC 2231) ----

struct ContentType {
  std::string type;                    // lower-cased ("text"); for dispositions "attachment"
  std::optional<std::string> subtype;  // lower-cased ("plain"); nullopt when missing
  // Parameters in order with lower-cased names; RFC 2231 continuations joined and
  // charset-decoded, RFC 2047 words in values decoded.
  std::vector<std::pair<std::string, std::string>> params;
  // RFC 2231 5 language tags of extended parameters, lower-cased parameter name first
  // ("title*=us-ascii'en'..." gives {"title", "en"}); empty tags are not listed.
  std::vector<std::pair<std::string, std::string>> languages;

  // Value of a parameter (case-insensitive name) or nullptr.
  const std::string* param(std::string_view name) const;
  bool is(std::string_view type, std::string_view subtype) const;  // case-insensitive
};

ContentType parse_content_type(std::string_view raw);

// ---- Date (RFC 5322 3.3, with obsolete zones and common malformations) ----

struct DateTime {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  bool tz_before_gmt = false;  // true for negative offsets ("-0600")
  int tz_hour = 0, tz_minute = 0;

  int64_t to_unix() const;        // seconds since the epoch, UTC
  std::string to_rfc3339() const;  // "1997-11-21T09:55:06-06:00"
};

std::optional<DateTime> parse_date(std::string_view raw);

// ---- identifiers and lists ----

// Message-ID, In-Reply-To, References (RFC 5322 3.6.4): ids without angle brackets.
std::vector<std::string> parse_message_ids(std::string_view raw);

// Comma-separated phrases (Keywords, List-* display): each unfolded, decoded and trimmed.
std::vector<std::string> parse_comma_list(std::string_view raw);

// ---- Received (RFC 5321 4.4) ----

struct ReceivedHost {
  enum class Kind { kName, kIpv4, kIpv6 } kind = Kind::kName;
  std::string value;
};

struct Received {
  std::optional<ReceivedHost> from, by, helo, from_iprev;
  std::optional<std::string> from_ip, ident, via, with, id, for_, tls_version, tls_cipher;
  std::optional<std::string> helo_cmd;  // "Helo", "Ehlo", "Lhlo" as written in the trace
  std::optional<DateTime> date;
};

// Best-effort parse; nullopt when the value is not a Received trace at all.
std::optional<Received> parse_received(std::string_view raw);

}  // namespace postern::mail
