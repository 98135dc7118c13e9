// DKIM: DomainKeys Identified Mail signatures (RFC 6376), with Ed25519 (RFC 8463) and the
// RFC 8301 algorithm and key-size policy.
//
// The signer and the verifier work on the message exactly as it travels: the original
// bytes, with LF line ends turned into CRLF first (RFC 6376 5.3, as an MTA sees the
// message on the wire). Keys are looked up as TXT records at selector._domainkey.domain
// through dns::Resolver, from a coroutine, so the same code serves a tool and a daemon.
//
//   // Signing
//   auto key = dkim::load_private_key(pem_text);            // RSA or Ed25519
//   dkim::SignOptions o{.domain = "example.org", .selector = "s1", .key = &*key};
//   auto field = dkim::sign(message, o);                    // "DKIM-Signature: ...\r\n"
//   if (field) out = *field + message;
//
//   // Verifying (one result per DKIM-Signature field, top to bottom)
//   auto task = dkim::verify(message, resolver, {.now = 1700000000});
//   std::vector<dkim::SignatureResult> results = dns::run(resolver, task);
//   for (auto& r : results) std::cout << r.result << " " << r.domain << "\n";
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/task.h"
#include "dns/dns.h"

namespace postern::auth::dkim {

// ---------------------------------------------------------------- tag lists

// RFC 6376 3.2: tag=value pairs separated by ';'. Names and values are trimmed of FWS;
// values keep inner folding white space as written (the caller removes it where the
// tag's grammar allows: b=, bh=, p=, h=). Duplicate names and malformed pairs are errors.
struct Tag {
  std::string name;
  std::string value;
};
using TagList = std::vector<Tag>;
base::Result<TagList> parse_tag_list(std::string_view text);
const std::string* find_tag(const TagList& tags, std::string_view name);

// Base64 without line breaks; decode ignores FWS and rejects anything else.
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

// RFC 6376 2.11 dkim-quoted-printable (used by i= and z=).
std::optional<std::string> decode_dkim_qp(std::string_view text);

// ---------------------------------------------------------------- signatures

enum class Algorithm { kRsaSha1, kRsaSha256, kEd25519Sha256 };
enum class Canon { kSimple, kRelaxed };

std::string_view algorithm_name(Algorithm a);
std::optional<Algorithm> parse_algorithm(std::string_view s);

// Why a signature did not pass. kind() of each decides the RFC 8601 result word.
enum class Reason {
  kNone,
  kBodyHashMismatch,     // fail
  kSignatureMismatch,    // fail
  kKeyRevoked,           // fail (RFC 6376 3.6.1: empty p=)
  kKeyTooShort,          // policy (RFC 8301 3.2)
  kAlgorithmNotAllowed,  // policy (RFC 8301 3.1: rsa-sha1)
  kUnsupported,          // neutral: v=, a=, c=, q=, k= values we cannot process
  kSyntax,               // permerror: DKIM-Signature malformed or missing required tags
  kExpired,              // permerror: x= in the past (RFC 6376 3.5)
  kFutureTimestamp,      // permerror: t= in the future beyond the allowed skew
  kKeyNotFound,          // permerror: no TXT record
  kKeySyntax,            // permerror: key record malformed
  kKeyUnsuitable,        // permerror: key h=, s=, t=s or (legacy) g= rule excludes it
  kDnsTempError,         // temperror: SERVFAIL or timeout
};

// The parsed DKIM-Signature field (RFC 6376 3.5).
struct Signature {
  Algorithm algorithm = Algorithm::kRsaSha256;
  Canon header_canon = Canon::kSimple;
  Canon body_canon = Canon::kSimple;
  std::string domain;                       // d=, as written
  std::string selector;                     // s=
  std::string identity;                     // i=, decoded; "@" + d when absent
  std::vector<std::string> signed_headers;  // h=, as written (case kept), in order
  std::string body_hash;                    // bh=, decoded bytes
  std::string signature;                    // b=, decoded bytes
  std::string b_text;                       // b= as written with FWS removed (for header.b)
  std::optional<uint64_t> length;           // l=
  std::optional<int64_t> timestamp;         // t=
  std::optional<int64_t> expiration;        // x=
  TagList tags;                             // every tag as written
};

// Parses and validates a DKIM-Signature field value (the text after the colon). Errors
// carry the Reason (kSyntax or kUnsupported) in `reason`.
struct SignatureError {
  Reason reason = Reason::kSyntax;
  std::string message;
};
struct ParsedSignature {
  std::optional<Signature> sig;
  SignatureError error;  // when !sig
  TagList tags;          // whatever tags could be read (d=, s= for the report)
};
// `drafts`: also accept pre-RFC 4871 draft signatures (no v= tag, or v=0.5), as the
// legacy verifier mode does.
ParsedSignature parse_signature(std::string_view value, bool drafts = false);

// The DNS key record (RFC 6376 3.6.1, RFC 8463 4).
struct KeyRecord {
  std::string key_type = "rsa";            // k=
  std::vector<std::string> hashes;         // h=; empty: any
  std::vector<std::string> services;       // s=; empty: "*"
  bool testing = false;                    // t=y
  bool strict_identity = false;            // t=s
  std::optional<std::string> granularity;  // g= (RFC 4871 only; honoured in legacy mode)
  std::string public_key;                  // p=, decoded; empty: revoked
};
struct KeyError {
  Reason reason = Reason::kKeySyntax;
  std::string message;
};
struct ParsedKey {
  std::optional<KeyRecord> key;
  KeyError error;
};
ParsedKey parse_key_record(std::string_view txt);

// ---------------------------------------------------------------- canonicalization

// RFC 6376 3.4.2: "name:value\r\n" for a relaxed header (name lower-cased, value unfolded,
// WSP runs to one SP, trimmed). `field` is the whole raw field including its line break.
std::string canon_header(std::string_view field, Canon c);

// RFC 6376 3.4.3 / 3.4.4 over a CRLF body. The result of an empty body is "" for relaxed
// and "\r\n" for simple (3.4.3).
std::string canon_body(std::string_view body, Canon c);

// The body hash (bh=) of a CRLF body: canonicalized, cut to `limit` canonical bytes (l=)
// when given, digested with the algorithm's hash. `canonical_length` receives the full
// canonical length (to check l= against).
std::string body_hash(std::string_view body, Canon c, Algorithm a,
                      std::optional<uint64_t> limit = std::nullopt,
                      uint64_t* canonical_length = nullptr);

// ---------------------------------------------------------------- keys and crypto

class PrivateKey {
 public:
  struct Impl;
  explicit PrivateKey(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  bool is_ed25519() const;
  int bits() const;  // RSA modulus size; 256 for Ed25519
  // The p= value of the public half (SubjectPublicKeyInfo for RSA, raw 32 bytes for Ed25519).
  std::string public_key_record() const;
  std::string to_pem() const;  // PKCS#8
  const Impl& impl() const { return *impl_; }

 private:
  std::shared_ptr<Impl> impl_;
};

// PEM (RSA PKCS#1 or PKCS#8, Ed25519 PKCS#8) or a base64 32-byte Ed25519 seed
// (RFC 8463 A.1 / RFC 8032 7.1).
base::Result<PrivateKey> load_private_key(std::string_view text);
base::Result<PrivateKey> generate_key(bool ed25519, int bits);

// ---------------------------------------------------------------- signing

// Default signed header fields (RFC 6376 5.4.1 recommendations); those in
// kOversigned are listed once more than they occur so none can be added later (8.15).
const std::vector<std::string>& default_signed_headers();
const std::vector<std::string>& default_oversigned_headers();

struct SignOptions {
  std::string domain;
  std::string selector;
  const PrivateKey* key = nullptr;
  Canon header_canon = Canon::kRelaxed;
  Canon body_canon = Canon::kRelaxed;
  // Explicit h= list (signed from the bottom, oversigning when listed more times than
  // present); empty: the defaults above, restricted to the fields present, plus
  // oversigning of default_oversigned_headers().
  std::vector<std::string> headers;
  std::string identity;                 // i=; empty: not written
  std::optional<uint64_t> body_length;  // l=: sign only this many canonical body bytes;
                                        // 0 / nullopt: whole body (l= not written)
  bool write_body_length = false;       // write l= with the whole body length
  int64_t timestamp = 0;                // t=; 0: not written
  int64_t expire_after = 0;             // x= = t + this (needs timestamp)
};

// The folded "DKIM-Signature: ...\r\n" field for `message` (LF or CRLF).
base::Result<std::string> sign(std::string_view message, const SignOptions& options);

// Low level: `field` is a complete DKIM-Signature field (name, colon, value) whose b=
// tag is present and empty, exactly as it will appear; returns the b= value (base64).
base::Result<std::string> sign_prepared(std::string_view message, std::string_view field,
                                        const PrivateKey& key);

// Folds a DKIM-Signature field at `width` columns (tags kept whole where they fit; h=
// broken at colons, b=/bh= broken anywhere), lines joined by CRLF + SP.
std::string fold_field(std::string_view name, const std::vector<std::string>& tags,
                       size_t width = 78);

// ---------------------------------------------------------------- verification

struct VerifyOptions {
  int64_t now = 0;  // Unix time for x=/t= checks; 0: the system clock
  // Legacy (RFC 4871-era) acceptance: rsa-sha1, RSA keys < 1024 bits, draft signatures
  // without v= (or v=0.5), and the key g= tag honoured.
  bool legacy = false;
  int64_t clock_skew = 300;  // t= may be this far in the future; < 0: t= not checked
  size_t max_signatures = 16;
};

struct SignatureResult {
  std::string result;  // RFC 8601 word: pass fail policy neutral temperror permerror
  Reason reason = Reason::kNone;
  std::string detail;    // human reason ("body hash mismatch"); empty on pass
  std::string domain;    // d=
  std::string selector;  // s=
  std::string identity;  // i=
  std::string b;         // b= (FWS removed), for header.b
  std::string algorithm;
  int key_bits = 0;
  bool testing = false;    // key t=y
  size_t field_index = 0;  // which DKIM-Signature (0: topmost)
};

std::string_view result_for(Reason r);

// Verifies every DKIM-Signature field (up to max_signatures; the rest get permerror),
// in order from the top. A message without one yields an empty vector ("none").
base::Task<std::vector<SignatureResult>> verify(std::string message, dns::Resolver& resolver,
                                                VerifyOptions options);

// The key TXT lookup alone: selector._domainkey.domain.
base::Task<dns::Answer> lookup_key(dns::Resolver& resolver, std::string selector,
                                   std::string domain);

// Verifies one signature field against a key record text, without DNS (tests, tools).
SignatureResult verify_with_key(std::string_view message, size_t field_index,
                                std::string_view key_txt, const VerifyOptions& options);

}  // namespace postern::auth::dkim
