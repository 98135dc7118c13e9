// What a mail domain must publish in DNS for this server, and how that compares with
// what is published: the library behind `postern dns records` and `postern dns check`
// (postern-dns(8)).
//
// The expected records are computed from the configuration alone (server.hostname,
// listeners, delivery.dkim keys, tls.certificate, mta_sts.*, dmarc.*,
// delivery.tls_rpt.contact); the store is never consulted. Checking queries each of them
// through a dns::Resolver and compares by meaning, not bytes (TXT tags, MX host sets,
// DKIM public keys).
//
//   auto s = admin::domain_settings(cfg, "example.org");   // reads key and certificate files
//   if (!s) return s.error();                               // Error::config naming the file
//   std::vector<admin::DnsRecord> recs = admin::expected_records(*s);
//   write_stdout(admin::zone_fragment(*s, recs));            // or records_json(recs)
//
//   auto resolver = dns::make_resolver(config::resolver_options(cfg));
//   auto results = admin::check_records(**resolver, recs, s->hostname);
//   write_stdout(admin::check_text(results));
//   return admin::check_exit_code(results);                 // 0, 1 or 75
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "dns/dns.h"

namespace postern::admin {

// ---------------------------------------------------------------- the settings

struct DkimPublicKey {
  std::string domain;    // d= of the key (lower-case)
  std::string selector;  // s=
  bool ed25519 = false;
  std::string public_key;  // raw p= bytes (dkim::PrivateKey::public_key_record())
  std::string file;        // the private key file it came from
};

// Everything the records depend on, read from the configuration (and the key and
// certificate files it names) for one domain.
struct DomainSettings {
  std::string domain;    // lower-case, no trailing dot
  std::string hostname;  // server.hostname, lower-case, no trailing dot
  std::vector<DkimPublicKey> dkim;  // keys whose domain is `domain` or a parent of it
  std::string dmarc_policy = "quarantine";  // none | quarantine | reject
  std::string dmarc_report_address;         // rua= address (without mailto:)
  std::string mta_sts_mode = "testing";     // enforce | testing | none
  int64_t mta_sts_max_age = 604800;         // seconds
  std::string tls_rpt_rua;                  // the rua= URI ("mailto:..." or "https://...")
  // Ports of the first listener of each mode; nullopt: no such listener.
  std::optional<uint16_t> submission_port, submissions_port, imap_port, imaps_port;
  std::string tlsa_sha256;  // hex SHA-256 of the certificate's SubjectPublicKeyInfo; "" = none
};

// Reads `cfg` for `domain`. Errors: a domain that is not a host name (usage, 64); a DKIM
// key or certificate that cannot be read or parsed, mta_sts.max_age out of range
// (config, 78, naming the file or key).
base::Result<DomainSettings> domain_settings(const config::Config& cfg, std::string_view domain);

// ---------------------------------------------------------------- MTA-STS policy

// RFC 8461 3.2: the policy file served at https://mta-sts.<domain>/.well-known/mta-sts.txt
// (CRLF line ends): version STSv1, mode, mx: server.hostname, max_age in seconds. The
// same for every domain this server receives mail for.
std::string mta_sts_policy_text(const config::Config& cfg);
std::string mta_sts_policy_text(std::string_view mode, std::string_view hostname,
                                int64_t max_age);
// The id= of the _mta-sts TXT record for a policy: the first 16 hex digits of the
// SHA-256 of its text, so it changes exactly when the policy does.
std::string mta_sts_policy_id(std::string_view policy_text);

// ---------------------------------------------------------------- the records

// What a record is for: how check_records() looks it up and compares it.
enum class RecordKind {
  kMx,           // MX: the set of exchanges
  kSpf,          // TXT v=spf1
  kDkim,         // TXT v=DKIM1 key record
  kDmarc,        // TXT v=DMARC1
  kDmarcReport,  // TXT v=DMARC1 at D._report._dmarc.<report domain> (RFC 7489 7.1)
  kMtaSts,       // TXT v=STSv1 with the policy id
  kTlsRpt,       // TXT v=TLSRPTv1
  kAlias,        // CNAME to server.hostname (A/AAAA equal to the hostname's accepted too)
  kSrv,          // SRV (RFC 6186; _autodiscover._tcp)
  kTlsa,         // TLSA 3 1 1 (RFC 7672)
};

struct DnsRecord {
  RecordKind kind = RecordKind::kMx;
  std::string name;     // owner, lower-case, absolute with the trailing dot
  std::string type;     // "MX", "TXT", "CNAME", "SRV", "TLSA"
  std::string value;    // the data; for TXT the text itself (unsplit, unquoted)
  std::string purpose;  // one line: what the record is for
  std::string policy;   // kMtaSts: the policy file text; else ""
};

// Every record `s.domain` must publish, in a fixed order: MX, SPF, DKIM, DMARC (and its
// report authorization when the report address is elsewhere), MTA-STS, TLS-RPT, SRV
// (RFC 6186), autoconfig/autodiscover (the CNAMEs, then the _autodiscover._tcp SRV), TLSA.
std::vector<DnsRecord> expected_records(const DomainSettings& s);

// The DKIM key record text for a public key (RFC 6376 3.6.1, RFC 8463 4):
// "v=DKIM1; k=rsa; p=<base64>" — what dkim-keygen prints.
std::string dkim_key_record(bool ed25519, std::string_view public_key);

// The data of `r` in zone-file syntax: TXT as quoted strings of at most 255 bytes
// (RFC 1035 3.3.14), everything else as `value`.
std::string zone_data(const DnsRecord& r);
// TXT text split into quoted character-strings of at most 255 bytes each.
std::string quoted_txt(std::string_view text);

// A zone-file fragment: a comment line per record saying what it is for, then
// `NAME IN TYPE DATA`; the MTA-STS policy as a comment block.
std::string zone_fragment(const DomainSettings& s, const std::vector<DnsRecord>& records);
// A JSON array of {name, type, value, purpose} (and policy for the MTA-STS record).
std::string records_json(const std::vector<DnsRecord>& records);

// ---------------------------------------------------------------- checking

enum class Verdict { kOk, kMissing, kWrong, kError };
std::string_view verdict_name(Verdict v);  // "ok", "missing", "wrong", "error"

struct CheckResult {
  DnsRecord expected;
  Verdict verdict = Verdict::kError;
  std::vector<std::string> published;  // what was found, in the form of DnsRecord::value
  std::string why;                     // wrong/error: the reason in a few words
};

// Compares one published answer with what is expected (the pure part of checking; an
// alias is judged on its CNAME answer only — a NODATA answer is `missing` here; see
// compare_alias_addresses()). The answer's records are of the record's type.
CheckResult compare(const DnsRecord& expected, const dns::Answer& answer);

// An alias without a CNAME: ok when the name's A and AAAA sets equal the hostname's (and
// are not empty). The answers are A and AAAA of the name, then of the hostname.
CheckResult compare_alias_addresses(const DnsRecord& expected, const dns::Answer& name_a,
                                    const dns::Answer& name_aaaa, const dns::Answer& host_a,
                                    const dns::Answer& host_aaaa);

// Looks every record up through `resolver` (all at once, blocking until the answers or
// time-outs are in) and compares them. `hostname` is server.hostname (for aliases
// published as addresses).
std::vector<CheckResult> check_records(dns::Resolver& resolver,
                                       const std::vector<DnsRecord>& expected,
                                       const std::string& hostname);

// One line per record: `VERDICT NAME TYPE`, then for the others what was published,
// what is expected and why.
std::string check_text(const std::vector<CheckResult>& results);
// A JSON array of {name, type, status, expected, published, why, purpose}.
std::string check_json(const std::vector<CheckResult>& results);
// 0 when all are ok; 75 when a lookup failed (the answer is not complete); otherwise 1.
int check_exit_code(const std::vector<CheckResult>& results);

}  // namespace postern::admin
