// Wire-format helpers shared by the DNS engines: RDATA decoding into Record (RFC 1035
// 3.3, RFC 3596, RFC 6698), a zone-file rendering of a Record (what ZoneResolver reads
// back), and the negative-caching TTL of a response (RFC 2308 5).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "dns/dns.h"

namespace postern::dns {

// Decodes the uncompressed RDATA of one record of `type` into `*record` (text, strings,
// preference, tlsa, data as documented on Record; rdata gets the raw bytes). Names
// inside RDATA come back lower-case without the trailing dot. Types without a decoder
// (SOA) keep only rdata. Malformed RDATA (short, trailing bytes, compression pointers,
// which RFC 3597 forbids in uncompressed RDATA) is an error.
base::Status decode_rdata(RrType type, std::string_view rdata, Record* record);

// A domain name in uncompressed wire form (RFC 1035 3.1) starting at `*pos` in `wire`,
// as lower-case text without the trailing dot ("" for the root). Advances *pos.
base::Result<std::string> read_name(std::string_view wire, size_t* pos);

// One record as a line of zone-file syntax (no newline), as ZoneResolver parses it:
//   "example.org 300 MX 10 mail.example.org"
//   "example.org 300 TXT \"v=spf1 -all\""
std::string zone_line(const Record& record);

// The data part of zone_line() ("10 mail.example.org").
std::string zone_data(const Record& record);

// RFC 2308 5: the TTL of a negative answer is the smaller of the SOA record's TTL and its
// MINIMUM field, taken from the authority section of the response `packet`. nullopt when
// the packet holds no SOA there (or cannot be walked).
std::optional<uint32_t> negative_ttl(std::string_view packet);

}  // namespace postern::dns
