// libFuzzer target for ARC (lib/auth/arc.h): arc::validate() of the input as a message
// against a ZoneResolver holding a few keys (the ValiMail suite's and Postern's test
// keys), arc::highest_instance(), arc::collect_results(), and arc::seal() of the
// input with a fixed Ed25519 key, whose result must validate whenever the input's chain
// did (or there was none). Seed corpus: tests/fuzz/corpus/arc/.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/arc.h"
#include "auth/dkim.h"
#include "dns/zone_resolver.h"

using namespace postern;
namespace arc = postern::auth::arc;
namespace dkim = postern::auth::dkim;

namespace {

// tests/fixtures/dkim/ed.private, whose record (ed._domainkey.example.org) is in kZone.
constexpr std::string_view kEdKey =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIGNo0JTV/gOGvLyliH7Hafup+ORLwCpQ8ZSClgmMravE\n"
    "-----END PRIVATE KEY-----\n";

constexpr std::string_view kZone =
    // tests/fixtures/dkim/example.org.zone: rsa2048 (the dkimpy-sealed seed) and ed.
    "rsa2048._domainkey.example.org TXT \"v=DKIM1; k=rsa; "
    "p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA3IIbuvf4dequ32xRZhzmh6dTLL805hZO/ejREOr4tK91"
    "qLTWJgP/SFuDN7L82bi/JFk/Sjgc8MAxTd5ICx60aJE1UIrOe+2DAyejvs87wU2pUNh6/roHhY+tZ2pkHxqWcRuz"
    "IkGP8TKLLcQdogAP7K7JOYFrb9+OueL2QVAR14nwx0WD7ZmM5f2hlTkK8xNz81qre5UI6vfzqi7Q9kpIeHrTMANW"
    "REj7Uu/xHEyInR+E6qlMBVJ1oeiuB+/Afvfzed4K5AdSEmcm/Gp8Q8wtgUBeSvdAFe/ir9LAULzlkvjbVmgSPfsk"
    "cBqijeo9JAiU0Wb7Dl2Nib0sL43h6mYYJwIDAQAB\"\n"
    "ed._domainkey.example.org TXT \"v=DKIM1; k=ed25519; "
    "p=UcDUGxbKKFpFCRugMqax5XfEtd1wPNV1vfQsnVMq+xY=\"\n"
    // The ValiMail ARC suite's 1024-bit key (../shared/testdata/arc-valimail).
    "dummy._domainkey.example.org TXT \"v=DKIM1; k=rsa; "
    "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY"
    "/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYL"
    "zBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\"\n"
    "revoked._domainkey.example.org TXT \"v=DKIM1; k=rsa; p=\"\n"
    "broken._domainkey.example.org SERVFAIL\n";

constexpr int64_t kNow = 1700000000;
constexpr std::string_view kAuthservId = "mx.example.org";

const dkim::PrivateKey& key() {
  static const dkim::PrivateKey k = *dkim::load_private_key(kEdKey);
  return k;
}

dns::ZoneResolver& zone() {
  static dns::ZoneResolver* z = [] {
    auto* r = new dns::ZoneResolver;
    if (!r->parse(kZone).ok()) __builtin_trap();
    return r;
  }();
  return *z;
}

bool is_fws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  dns::ZoneResolver& resolver = zone();

  int n = arc::highest_instance(in);
  if (n < -1 || n > arc::kMaxInstances) __builtin_trap();

  const bool legacy = (size & 1) != 0;
  auto task = arc::validate(in, resolver, {.now = kNow, .legacy = legacy});
  arc::ChainResult r = dns::run(resolver, task);
  if (r.instances < 0 || r.instances > arc::kMaxInstances) __builtin_trap();
  if (r.oldest_pass < 0 || r.oldest_pass > r.instances) __builtin_trap();
  switch (r.cv) {
    case arc::ChainStatus::kNone:
      if (r.instances != 0 || !r.reason.empty() || n > 0 || n < 0) __builtin_trap();
      break;
    case arc::ChainStatus::kPass:
      if (r.instances < 1 || r.instances != n || !r.reason.empty() || r.temperror)
        __builtin_trap();
      break;
    case arc::ChainStatus::kFail:
      if (r.reason.empty()) __builtin_trap();
      break;
  }
  if (r.temperror && r.cv != arc::ChainStatus::kFail) __builtin_trap();

  std::vector<std::string> results = arc::collect_results(in, kAuthservId);
  for (const auto& res : results) {
    if (res.empty() || res == "none" || is_fws(res.front()) || is_fws(res.back()))
      __builtin_trap();
  }

  // Seal as a forwarder would, with the chain status just found.
  arc::SealOptions o{.domain = "example.org",
                     .selector = "ed",
                     .key = &key(),
                     .authserv_id = std::string(kAuthservId),
                     .results = results,
                     .cv = r.cv,
                     .timestamp = kNow};
  if (size & 2) o.headers = {"from", "subject", "date"};
  auto set = arc::seal(in, o);
  if (!set) return 0;
  if (r.cv == arc::ChainStatus::kFail && n > 0) {
    // A failed chain is sealed cv=fail (5.1.2 forbids only extending a cv=fail seal).
    if (set->find("cv=fail") == std::string::npos) __builtin_trap();
  }
  std::string sealed = *set + in;
  int n2 = arc::highest_instance(sealed);
  if (n >= 0 && n2 != n + 1) __builtin_trap();
  auto again = arc::validate(sealed, resolver, {.now = kNow, .legacy = legacy});
  arc::ChainResult r2 = dns::run(resolver, again);
  if (r.cv == arc::ChainStatus::kFail) {
    if (r2.cv != arc::ChainStatus::kFail) __builtin_trap();  // newest AS says cv=fail
  } else if (r2.cv != arc::ChainStatus::kPass) {
    // What we seal over a passing (or absent) chain must validate.
    __builtin_trap();
  }
  return 0;
}
