// Pyzor: the collaborative spam digest (the digest of Pyzor 1.0 and protocol version 2.1).
//
// A message's digest is the SHA-1 of its normalised body text: the text parts
// (transfer- and charset-decoded, HTML reduced to its text), each line stripped of long
// tokens, e-mail addresses, URLs and all white space, lines shorter than 8 characters
// dropped, and, when more than 4 lines remain, only 3 lines from 20% and 3 from 60% of
// the way through. Headers are never digested. The result equals `pyzor digest`.
//
// A request is one UDP datagram of RFC 5322-style `Name: value` lines (Op, Op-Digest,
// Op-Spec, Thread, PV, User, Time, Sig), signed with the user's key; the answer carries
// Code, Diag, Thread and, for check, Count and WL-Count.
//
//   std::string d = pyzor::digest(bytes);                   // "2f1b...", 40 hex digits
//   pyzor::Request req{.op = pyzor::Op::kCheck, .digest = d};
//   auto server = pyzor::parse_server("127.0.0.1:24441");
//   auto resp = pyzor::exchange(*server, req, {.timeout_ms = 5000, .retries = 1});
//   if (resp && resp->code == 200 && resp->count > 0) { /* listed */ }
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "mail/message.h"

namespace postern::spam::pyzor {

inline constexpr std::string_view kProtocolVersion = "2.1";
inline constexpr std::string_view kAnonymousUser = "anonymous";
inline constexpr std::string_view kDefaultServer = "public.pyzor.org:24441";

// ---- Digest ----

// One line normalised: every run of 10 or more non-space characters, every run holding an
// e-mail address (x@y), every URL-like token (letters ':' more) and then all white space
// removed. Input and output are UTF-8.
std::string normalize_line(std::string_view line);

// The text Pyzor takes from an HTML part: the character data outside script and style
// elements, each piece trimmed, joined by one space (Python's html.parser rules, fed once
// and never closed: an unfinished tag at the end and what follows it are dropped).
std::string html_text(std::string_view html);

// The normalised lines (8 characters or more) of every part, in message order (what
// `pyzor predigest` shows before sampling). The parts are found the way Python's email
// package finds them, malformed input included, so any bytes have a digest.
std::vector<std::string> digest_lines(std::string_view raw);
std::vector<std::string> digest_lines(const mail::Message& msg);

// Indexes of the lines that feed the hash: all of them when there are at most 4,
// otherwise 3 from 20% and 3 from 60% (offset * n / 100, + 0..2, those that exist).
std::vector<size_t> sampled_indexes(size_t line_count);

// SHA-1 (40 lower-case hex digits) of the sampled lines.
std::string digest_of_lines(const std::vector<std::string>& lines);

std::string digest(std::string_view raw);
std::string digest(const mail::Message& msg);

// ---- Accounts and signatures ----

struct Account {
  std::string user{kAnonymousUser};
  std::string key;  // hex; empty for anonymous
};

struct AccountEntry {
  std::string host;
  uint16_t port = 0;
  Account account;
};

// Pyzor's accounts file: "host : port : username : salt,key" per line, '#' comments.
// Malformed lines are errors (bad_data with the line number).
base::Result<std::vector<AccountEntry>> parse_accounts(std::string_view text);
// The entry for host:port (compared as written), else the anonymous account.
Account account_for(const std::vector<AccountEntry>& accounts, std::string_view host,
                    uint16_t port);

// lower(SHA1(user ":" lower(key))) in hex.
std::string hash_key(std::string_view user, std::string_view key);
// lower(SHA1(SHA1(text) ":" time ":" hashed_key)); text is the request without Sig,
// trimmed of surrounding white space.
std::string sign(std::string_view text, int64_t time, std::string_view hashed_key);

// ---- Requests and responses ----

enum class Op { kPing, kPong, kCheck, kReport, kWhitelist, kInfo };
std::string_view op_name(Op op);

struct Request {
  Op op = Op::kCheck;
  std::string digest;   // not sent for ping
  uint16_t thread = 0;  // 0: a random id in [1024, 65536) is chosen by encode_request
  int64_t time = 0;     // 0: now
  Account account;
};

// The datagram, signed (Sig last). Fills in thread and time when they are 0.
std::string encode_request(Request& req);

// `Name: value` lines up to the first empty line; names compared case-insensitively
// (stored lower-cased); a repeated name keeps its first value. Fails on a line without ':'.
base::Result<std::map<std::string, std::string>> parse_fields(std::string_view text);

struct Response {
  int code = 0;
  std::string diag;
  uint16_t thread = 0;
  std::string protocol_version;
  std::optional<int64_t> count, wl_count;
};

// Fails (bad_data) when Code, Diag or Thread is missing or malformed, when Count or
// WL-Count is not a number, or when Thread differs from `expected_thread`.
base::Result<Response> parse_response(std::string_view datagram, uint16_t expected_thread);

// ---- Client ----

struct Server {
  std::string host;
  uint16_t port = 24441;
  std::string to_string() const;  // "host:port" as given ("[::1]:24441" for IPv6)
};
// "host:port", "[v6]:port", or a bare host (port 24441).
base::Result<Server> parse_server(std::string_view text);

struct ClientOptions {
  int timeout_ms = 5000;  // per attempt
  int retries = 1;        // extra attempts after a timeout
};

// Sends the request (signed) and waits for the answer with the same Thread; datagrams
// with another thread are ignored. Blocking; bounded by timeout * (retries + 1).
// No answer, an unreachable port or a name that does not resolve: temporary error.
// A malformed answer: bad_data.
base::Result<Response> exchange(const Server& server, Request req, const ClientOptions& options);

}  // namespace postern::spam::pyzor
