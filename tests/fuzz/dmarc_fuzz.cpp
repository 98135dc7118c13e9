// libFuzzer target for DMARC (lib/auth/dmarc.h): the record parser, the RFC5322.From
// domain, Authentication-Results parsing and the upstream SPF/DKIM results, and a whole
// evaluate() over a ZoneResolver.
// Input: a DMARC record on the first line, a message after it. The record is published
// at _dmarc of the From domain's Organizational Domain (and the From domain when it has
// one), so discovery, alignment and the policy choice all run on fuzzed data.
// Seed corpus: tests/fuzz/corpus/dmarc/.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/dmarc.h"
#include "auth/psl.h"
#include "auth/results.h"
#include "dns/zone_resolver.h"

using namespace postern;
namespace dmarc = postern::auth::dmarc;

namespace {

// A small fixed Public Suffix List: plain, multi-label, wildcard and exception rules.
const auth::PublicSuffixList& psl() {
  static const auth::PublicSuffixList* list = [] {
    auto l = auth::PublicSuffixList::parse(
        "// ===BEGIN ICANN DOMAINS===\ncom\norg\nnet\nexample\nuk\nco.uk\n*.ck\n!www.ck\n"
        "// ===END ICANN DOMAINS===\n");
    if (!l) __builtin_trap();
    return new auth::PublicSuffixList(std::move(*l));
  }();
  return *list;
}

bool no_upper(std::string_view s) {
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return false;
  }
  return true;
}

// After IDNA, a domain name is letters, digits, hyphens, dots (and underscores).
bool ldh(std::string_view s) {
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string_view record = in.substr(0, nl);
  if (!record.empty() && record.back() == '\r') record.remove_suffix(1);
  std::string_view message = nl == in.npos ? std::string_view() : in.substr(nl + 1);

  // The record parser, on the first line and on the whole input.
  for (std::string_view txt : {record, in}) {
    if (!dmarc::is_dmarc_record(txt)) continue;
    auto rec = dmarc::parse_record(txt);
    if (!rec) continue;
    if (rec->pct < 0 || rec->pct > 100) __builtin_trap();
    if (txt.find(rec->text) == txt.npos) __builtin_trap();  // the record, trimmed
  }

  // Authentication-Results parsing: every line as a field value.
  for (size_t p = 0; p <= in.size();) {
    size_t e = std::min(in.find('\n', p), in.size());
    auth::ParsedResults pr = auth::parse_authentication_results(in.substr(p, e - p));
    for (const auto& c : pr.clauses) {
      // Lower-cased (best effort otherwise: malformed input gives odd tokens, not errors).
      if (!no_upper(c.method) || !no_upper(c.result)) __builtin_trap();
    }
    p = e + 1;
  }

  auto from = dmarc::from_domain(message);
  // A From domain that is no domain name comes back lower-cased as written (evaluate()
  // must then not query it, below).
  if (from && (from->empty() || !no_upper(*from))) __builtin_trap();
  dmarc::UpstreamResults up = dmarc::upstream_results(message, "mx.example.org");
  if (!up.have_spf && up.spf != auth::SpfCode::kNone) __builtin_trap();

  std::string domain = from ? *from : "example.org";
  std::string org = dmarc::org_domain(domain, psl());
  dns::ZoneResolver zone;
  dns::Record txt;
  txt.type = dns::RrType::kTxt;
  txt.strings = {std::string(record)};
  for (const std::string& d : {org, domain}) {
    txt.name = dns::normalize_name("_dmarc." + d);
    zone.add(txt);
  }
  // The From domain exists (an A record), except under nx. (RFC 9091 np).
  if (domain.rfind("nx.", 0) != 0) {
    dns::Record a;
    a.name = dns::normalize_name(domain);
    a.type = dns::RrType::kA;
    a.text = "192.0.2.1";
    zone.add(a);
  }
  zone.fail("_dmarc.broken.example", std::nullopt, dns::Status::kServFail);

  dmarc::Request req;
  req.from_domain = domain;
  req.spf = up.spf;
  req.spf_domain = up.spf_domain;
  req.dkim_pass_domains = up.dkim_pass_domains;
  req.roll = [size] { return static_cast<int>(size % 100); };
  auto task = dmarc::evaluate(zone, psl(), req);
  dmarc::Evaluation ev = dns::run(zone, task);
  if (ev.result != dmarc::Code::kFail && ev.policy != dmarc::Policy::kNone) __builtin_trap();
  if (ev.result == dmarc::Code::kPass && !ev.spf_aligned && !ev.dkim_aligned) __builtin_trap();
  if (ev.result == dmarc::Code::kFail && (ev.spf_aligned || ev.dkim_aligned)) __builtin_trap();
  if ((ev.result == dmarc::Code::kPass || ev.result == dmarc::Code::kFail) && !ev.record)
    __builtin_trap();
  if (zone.queries().size() > 8) __builtin_trap();
  // Whatever went into a DNS query was a domain name.
  for (const auto& q : zone.queries()) {
    if (!ldh(q.first)) __builtin_trap();
  }
  (void)auth::format_clause(dmarc::result_clause(ev));
  return 0;
}
