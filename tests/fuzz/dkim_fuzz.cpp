// libFuzzer target: the DKIM tag-list, DKIM-Signature and key-record parsers, the
// canonicalizers, and verification of a message against a fixed key (header selection,
// b= stripping, body hashing). Seed corpus: tests/fuzz/corpus/dkim/.
#include <cstddef>
#include <cstdint>
#include <string>

#include "auth/dkim.h"
#include "mail/writer.h"

namespace dkim = postern::auth::dkim;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  size_t total = 0;
  if (auto tags = dkim::parse_tag_list(in)) total += tags->size();
  auto sig = dkim::parse_signature(in, (size & 1) != 0);
  if (sig.sig) {
    total += sig.sig->signed_headers.size() + sig.sig->b_text.size();
    if (sig.sig->identity.find('@') == std::string::npos) __builtin_trap();  // validated
  }
  auto key = dkim::parse_key_record(in);
  if (key.key) total += key.key->public_key.size();
  if (auto qp = dkim::decode_dkim_qp(in)) total += qp->size();
  if (auto b = dkim::base64_decode(in)) {
    if (*dkim::base64_decode(dkim::base64_encode(*b)) != *b) __builtin_trap();  // round trip
  }
  std::string crlf = postern::mail::lf_to_crlf(in);
  for (auto c : {dkim::Canon::kSimple, dkim::Canon::kRelaxed}) {
    std::string body = dkim::canon_body(crlf, c);
    // Canonicalization is idempotent (RFC 6376 3.4).
    if (dkim::canon_body(body, c) != body) __builtin_trap();
    total += dkim::canon_header(crlf, c).size();
  }
  // The whole verification path against a fixed (valid) Ed25519 key record.
  auto r = dkim::verify_with_key(
      in, 0, "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
      {.now = 1700000000, .legacy = (size & 2) != 0});
  total += r.result.size();
  return total == static_cast<size_t>(-1) ? 1 : 0;
}
