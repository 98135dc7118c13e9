// ZoneResolver: answers from records held in memory — loaded from a zone file
// (`--resolver file:PATH`) or added by a test — so unit and CLI tests run without a
// network. Answers are delivered inline (query() calls back before it returns).
//
// File format: one record a line, `#` or `;` starts a comment, fields separated by
// white space, names absolute with or without the trailing dot, case-insensitive:
//
//   NAME [TTL] [IN] TYPE DATA...
//   example.org        TXT   "v=spf1 ip4:192.0.2.0/24 -all"      # strings in quotes
//   example.org   300  MX    10 mail.example.org
//   mail.example.org   A     192.0.2.25
//   mail.example.org   AAAA  2001:db8::25
//   www.example.org    CNAME example.org
//   25.2.0.192.in-addr.arpa PTR mail.example.org
//   _25._tcp.mail.example.org TLSA 3 1 1 0123abcd...          # hex association data
//   *.wild.example.org A     192.0.2.9                          # wildcard (RFC 4592)
//   broken.example.org SERVFAIL            # every lookup of this name: SERVFAIL
//   slow.example.org   TXT TIMEOUT         # only TXT lookups time out
//   signed.example.org SECURE              # answers for this name are DNSSEC-validated
//
// TXT strings: "quoted" (with \" \\ and \DDD escapes) or bare words, several per record.
// A name that owns no records but has descendants exists (NODATA, not NXDOMAIN).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dns/dns.h"

namespace postern::dns {

class ZoneResolver final : public Resolver {
 public:
  ZoneResolver() = default;

  static base::Result<std::unique_ptr<ZoneResolver>> load(const std::string& path);
  // Adds the records of zone-file text; errors name `file:line`.
  base::Status parse(std::string_view text, std::string_view file = "<zone>");

  void add(Record record);
  // Lookups of `name` (of `type`, or of every type) end with `status` (kServFail, kTimeout).
  void fail(const std::string& name, std::optional<RrType> type, Status status);
  void set_secure(const std::string& name, bool secure = true);

  void query(const std::string& name, RrType type, std::function<void(Answer)> done) override;
  void wait() override {}

  // The same lookup, synchronously (what query() delivers).
  Answer answer(const std::string& name, RrType type) const;
  // Every lookup made so far, in order (tests count DNS lookups with it).
  const std::vector<std::pair<std::string, RrType>>& queries() const { return queries_; }

 private:
  bool exists(const std::string& name) const;
  const std::vector<Record>* find(const std::string& name) const;

  std::map<std::string, std::vector<Record>> records_;  // by owner name
  std::map<std::pair<std::string, int>, Status> failures_;  // type -1: every type
  std::set<std::string> secure_;
  std::vector<std::pair<std::string, RrType>> queries_;
};

// Lower-case, without a trailing dot: the form names are compared in.
std::string normalize_name(std::string_view name);

}  // namespace postern::dns
