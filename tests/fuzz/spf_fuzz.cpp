// libFuzzer target for the SPF record parser and macro expander (lib/auth/spf.h), and a
// whole check_host() over a ZoneResolver that serves the input as the record.
// Input: an SPF record (or any macro-string). Every byte is fair game.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/spf.h"
#include "dns/zone_resolver.h"

using namespace postern;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  auto rec = auth::parse_spf_record(in);
  if (rec) {
    for (const auto& m : rec->mechanisms) {
      if (m.cidr4 < 0 || m.cidr4 > 32 || m.cidr6 < 0 || m.cidr6 > 128) __builtin_trap();
      if (!m.domain_spec.empty() && !auth::check_domain_spec(m.domain_spec).ok()) __builtin_trap();
    }
  }

  auth::MacroValues v;
  v.sender = "strong-bad@email.example.com";
  v.local = "strong-bad";
  v.sender_domain = "email.example.com";
  v.domain = "email.example.com";
  v.ip = *auth::IpAddress::parse(size % 2 ? "2001:db8::cb01" : "192.0.2.3");
  for (bool exp : {false, true}) {
    auto out = auth::expand_macros(in, v, exp);
    if (out && !exp && out->size() > 253) __builtin_trap();  // RFC 7208 7.3 truncation
  }
  (void)auth::uses_ptr_macro(in);

  // The input as the TXT record of the checked domain; every other name answers from a
  // few records, so include/redirect/exp chains recurse into the same record.
  dns::ZoneResolver zone;
  dns::Record txt;
  txt.name = "example.org";
  txt.type = dns::RrType::kTxt;
  txt.strings = {std::string(in)};
  zone.add(txt);
  txt.name = "*.example.org";
  zone.add(txt);
  dns::Record a;
  a.name = "*.example.org";
  a.type = dns::RrType::kA;
  a.text = "192.0.2.3";
  zone.add(a);
  auth::SpfRequest req;
  req.ip = v.ip;
  req.helo = "mail.example.org";
  req.mail_from = "alice@example.org";
  auto task = auth::check_host(zone, req);
  auth::SpfResult res = dns::run(zone, task);
  if (res.dns_mechanisms > 11 || res.void_lookups > 3) __builtin_trap();  // RFC 7208 4.6.4
  if (zone.queries().size() > 400) __builtin_trap();
  (void)auth::format_received_spf(req, res);
  (void)auth::format_clause(auth::spf_result_clause(req, res));
  return 0;
}
