#include "admin/dns_records.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <utility>

#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "auth/psl.h"
#include "dns/rdata.h"
#include "smtp/mta_sts.h"
#include "smtp/tls_rpt.h"

namespace postern::admin {

namespace dkim = auth::dkim;
using base::Error;

namespace {

constexpr auto kSrvType = static_cast<dns::RrType>(33);  // RFC 2782

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequal(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

// Lower-case, without the trailing dot.
std::string bare_name(std::string_view s) {
  std::string n = lower(s);
  while (!n.empty() && n.back() == '.') n.pop_back();
  return n;
}

std::string fqdn(std::string_view bare) { return std::string(bare) + "."; }

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md), len);
}

// RFC 1035 2.3.1 with RFC 1123 2.1: letters, digits and hyphens, labels of 1..63
// octets not starting or ending with a hyphen, at most 253 octets, at least two labels.
bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.find('.') == std::string_view::npos) return false;
  size_t start = 0;
  while (start <= d.size()) {
    size_t dot = d.find('.', start);
    if (dot == std::string_view::npos) dot = d.size();
    std::string_view label = d.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    start = dot + 1;
  }
  return true;
}

// `domain` is `parent` or below it.
bool at_or_below(std::string_view domain, std::string_view parent) {
  if (domain == parent) return true;
  return domain.size() > parent.size() && domain.ends_with(parent) &&
         domain[domain.size() - parent.size() - 1] == '.';
}

base::Result<std::string> read_whole(const std::string& path, const std::string& what,
                                     const std::string& where) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::config(where + ": cannot read the " + what + " " + path);
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return Error::config(where + ": cannot read the " + what + " " + path);
  return s.str();
}

// RFC 7671 / RFC 6698 2.1.2: selector 1 is the DER SubjectPublicKeyInfo; matching type 1
// its SHA-256.
base::Result<std::string> spki_sha256(const std::string& pem, const std::string& path,
                                      const std::string& where) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                 &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, &X509_free);
  if (!cert) return Error::config(where + ": no PEM certificate in " + path);
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert.get()), &der);
  if (len <= 0) return Error::config(where + ": cannot encode the public key of " + path);
  std::string spki(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return hex(sha256(spki));
}

// The port of a listener address ("0.0.0.0:465", "[::]:993"); nullopt for unix: sockets.
std::optional<uint16_t> listener_port(std::string_view address) {
  if (address.starts_with("unix:")) return std::nullopt;
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view digits = address.substr(colon + 1);
  if (digits.empty() || digits.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

std::string strip_mailto(std::string_view s) {
  if (s.size() >= 7 && iequal(s.substr(0, 7), "mailto:")) return std::string(s.substr(7));
  return std::string(s);
}

}  // namespace

// ---------------------------------------------------------------- settings

base::Result<DomainSettings> domain_settings(const config::Config& cfg, std::string_view domain) {
  DomainSettings s;
  std::string d = bare_name(domain);
  if (auto ascii = auth::to_ascii_domain(d)) d = *ascii;
  if (!valid_domain(d)) {
    return Error::usage("--domain: \"" + std::string(domain) + "\" is not a domain name");
  }
  s.domain = d;
  s.hostname = bare_name(cfg.get_string("server.hostname"));
  if (s.hostname.empty()) {
    return Error::config(cfg.origin("server.hostname") + ": server.hostname is empty");
  }

  for (const config::Config& k : cfg.get_maps("delivery.dkim")) {
    std::string key_domain = bare_name(k.get_string("domain"));
    if (!at_or_below(s.domain, key_domain)) continue;
    const std::string& path = k.get_string("key");
    auto pem = read_whole(path, "DKIM key", k.origin("key"));
    if (!pem) return pem.error();
    auto key = dkim::load_private_key(*pem);
    if (!key) {
      return Error::config(k.origin("key") + ": " + path + ": not a DKIM private key (" +
                           key.error().message() + ")");
    }
    s.dkim.push_back({.domain = key_domain,
                      .selector = lower(k.get_string("selector")),
                      .ed25519 = key->is_ed25519(),
                      .public_key = key->public_key_record(),
                      .file = path});
  }

  s.dmarc_policy = cfg.get_string("dmarc.policy");
  s.dmarc_report_address = strip_mailto(cfg.get_string("dmarc.report_address"));
  if (s.dmarc_report_address.empty()) s.dmarc_report_address = "postmaster@" + s.domain;

  s.mta_sts_mode = cfg.get_string("mta_sts.mode");
  s.mta_sts_max_age = cfg.get_duration("mta_sts.max_age").count();
  if (s.mta_sts_max_age < 0 || s.mta_sts_max_age > smtp::mta_sts::kMaxMaxAge) {
    return Error::config(cfg.origin("mta_sts.max_age") +
                         ": mta_sts.max_age: at most 365 days (RFC 8461 3.2)");
  }

  const std::string& contact = cfg.get_string("delivery.tls_rpt.contact");
  if (contact.empty()) {
    s.tls_rpt_rua = "mailto:tlsrpt@" + s.domain;
  } else if (iequal(contact.substr(0, std::min<size_t>(7, contact.size())), "mailto:") ||
             iequal(contact.substr(0, std::min<size_t>(8, contact.size())), "https://")) {
    s.tls_rpt_rua = contact;
  } else {
    s.tls_rpt_rua = "mailto:" + contact;
  }

  for (const config::Config& l : cfg.get_maps("listeners")) {
    const std::string& mode = l.get_string("mode");
    std::optional<uint16_t>* slot = mode == "submission"    ? &s.submission_port
                                    : mode == "submissions" ? &s.submissions_port
                                    : mode == "imap"        ? &s.imap_port
                                    : mode == "imaps"       ? &s.imaps_port
                                                            : nullptr;
    if (slot != nullptr && !*slot) *slot = listener_port(l.get_string("address"));
  }

  const std::string& cert = cfg.get_string("tls.certificate");
  if (!cert.empty()) {
    auto pem = read_whole(cert, "certificate", cfg.origin("tls.certificate"));
    if (!pem) return pem.error();
    auto digest = spki_sha256(*pem, cert, cfg.origin("tls.certificate"));
    if (!digest) return digest.error();
    s.tlsa_sha256 = *digest;
  }
  return s;
}

// ---------------------------------------------------------------- MTA-STS policy

std::string mta_sts_policy_text(std::string_view mode, std::string_view hostname,
                                int64_t max_age) {
  // RFC 8461 3.2: CRLF-separated "key: value" lines.
  std::string t = "version: STSv1\r\n";
  t += "mode: " + std::string(mode) + "\r\n";
  t += "mx: " + bare_name(hostname) + "\r\n";
  t += "max_age: " + std::to_string(max_age) + "\r\n";
  return t;
}

std::string mta_sts_policy_text(const config::Config& cfg) {
  return mta_sts_policy_text(cfg.get_string("mta_sts.mode"), cfg.get_string("server.hostname"),
                             cfg.get_duration("mta_sts.max_age").count());
}

std::string mta_sts_policy_id(std::string_view policy_text) {
  return hex(sha256(policy_text)).substr(0, 16);
}

// ---------------------------------------------------------------- records

std::string dkim_key_record(bool ed25519, std::string_view public_key) {
  return std::string("v=DKIM1; k=") + (ed25519 ? "ed25519" : "rsa") +
         "; p=" + dkim::base64_encode(public_key);
}

std::vector<DnsRecord> expected_records(const DomainSettings& s) {
  std::vector<DnsRecord> out;
  const std::string d = fqdn(s.domain);
  const std::string host = fqdn(s.hostname);
  auto add = [&](RecordKind kind, std::string name, std::string type, std::string value,
                 std::string purpose) -> DnsRecord& {
    out.push_back({.kind = kind,
                   .name = std::move(name),
                   .type = std::move(type),
                   .value = std::move(value),
                   .purpose = std::move(purpose)});
    return out.back();
  };

  add(RecordKind::kMx, d, "MX", "10 " + host, "MX: other servers deliver mail for " + s.domain +
                                                   " to this server (RFC 5321 5.1)");
  add(RecordKind::kSpf, d, "TXT", "v=spf1 mx -all",
      "SPF: only the MX hosts send mail from " + s.domain + " (RFC 7208)");
  for (const DkimPublicKey& k : s.dkim) {
    add(RecordKind::kDkim, k.selector + "._domainkey." + fqdn(k.domain), "TXT",
        dkim_key_record(k.ed25519, k.public_key),
        std::string("DKIM: the public ") + (k.ed25519 ? "Ed25519" : "RSA") + " key of selector " +
            k.selector + " for " + k.domain + " (RFC 6376 3.6.1), from " + k.file);
  }
  add(RecordKind::kDmarc, "_dmarc." + d, "TXT",
      "v=DMARC1; p=" + s.dmarc_policy + "; rua=mailto:" + s.dmarc_report_address,
      "DMARC: receivers apply p=" + s.dmarc_policy + " to mail failing SPF and DKIM alignment "
      "and send aggregate reports to " + s.dmarc_report_address + " (RFC 7489 6.3)");
  size_t at = s.dmarc_report_address.rfind('@');
  if (at != std::string::npos) {
    std::string report_domain = bare_name(s.dmarc_report_address.substr(at + 1));
    if (!report_domain.empty() && !at_or_below(s.domain, report_domain) &&
        !at_or_below(report_domain, s.domain)) {
      add(RecordKind::kDmarcReport, d + "_report._dmarc." + fqdn(report_domain), "TXT",
          "v=DMARC1",
          "DMARC: " + report_domain + " agrees to receive the reports of " + s.domain +
              " (RFC 7489 7.1; published in the zone of " + report_domain + ")");
    }
  }
  std::string policy = mta_sts_policy_text(s.mta_sts_mode, s.hostname, s.mta_sts_max_age);
  add(RecordKind::kMtaSts, "_mta-sts." + d, "TXT", "v=STSv1; id=" + mta_sts_policy_id(policy),
      "MTA-STS: a policy (mode " + s.mta_sts_mode + ") is served at https://mta-sts." +
          s.domain + "/.well-known/mta-sts.txt; id changes with it (RFC 8461 3.1)")
      .policy = policy;
  add(RecordKind::kAlias, "mta-sts." + d, "CNAME", host,
      "MTA-STS: the HTTPS host that serves the policy (RFC 8461 3.3)");
  add(RecordKind::kTlsRpt, "_smtp._tls." + d, "TXT", "v=TLSRPTv1; rua=" + s.tls_rpt_rua,
      "TLS-RPT: where senders report TLS failures delivering to " + s.domain + " (RFC 8460 3)");
  auto srv = [&](const char* service, const std::optional<uint16_t>& port, const char* what) {
    std::string name = std::string("_") + service + "._tcp." + d;
    if (port) {
      add(RecordKind::kSrv, name, "SRV", "0 1 " + std::to_string(*port) + " " + host,
          std::string("client setup: ") + what + " on port " + std::to_string(*port) +
              " (RFC 6186 3.1)");
    } else {
      add(RecordKind::kSrv, name, "SRV", "0 0 0 .",
          std::string("client setup: no ") + what + " here (RFC 6186 3.4)");
    }
  };
  srv("submissions", s.submissions_port, "mail submission over TLS");
  srv("submission", s.submission_port, "mail submission with STARTTLS");
  srv("imaps", s.imaps_port, "IMAP over TLS");
  srv("imap", s.imap_port, "IMAP with STARTTLS");
  add(RecordKind::kAlias, "autoconfig." + d, "CNAME", host,
      "client setup: the autoconfig host mail clients (Thunderbird) ask");
  add(RecordKind::kAlias, "autodiscover." + d, "CNAME", host,
      "client setup: the autodiscover host mail clients (Outlook) ask");
  // Outlook's autodiscover SRV ([MS-OXDSCLI] 2.2.2): the host it asks over HTTPS
  // (https://HOST/Autodiscover/Autodiscover.xml) when autodiscover.<domain> does not answer.
  add(RecordKind::kSrv, "_autodiscover._tcp." + d, "SRV", "0 1 443 " + host,
      "client setup: the autodiscover service mail clients (Outlook) find by SRV, "
      "HTTPS on port 443 ([MS-OXDSCLI] 2.2.2)");
  if (!s.tlsa_sha256.empty()) {
    add(RecordKind::kTlsa, "_25._tcp." + host, "TLSA", "3 1 1 " + s.tlsa_sha256,
        "DANE: the SHA-256 of the public key of tls.certificate, for SMTP to " + s.hostname +
            " (RFC 7672; needs a DNSSEC-signed zone)");
  }
  return out;
}

std::string quoted_txt(std::string_view text) {
  // RFC 1035 3.3.14: character-strings of at most 255 bytes; 5.1: \ and " escaped.
  std::string out;
  size_t i = 0;
  do {
    std::string_view part = text.substr(i, 255);
    if (!out.empty()) out += ' ';
    out += '"';
    for (char c : part) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
    i += 255;
  } while (i < text.size());
  return out;
}

std::string zone_data(const DnsRecord& r) {
  return r.type == "TXT" ? quoted_txt(r.value) : r.value;
}

std::string zone_fragment(const DomainSettings& s, const std::vector<DnsRecord>& records) {
  std::string out = "; DNS records for " + s.domain + " (server " + s.hostname +
                    "), made by postern dns records\n";
  for (const DnsRecord& r : records) {
    out += "\n; " + r.purpose + "\n";
    out += r.name + " IN " + r.type + " " + zone_data(r) + "\n";
    if (!r.policy.empty()) {
      out += "; The policy file (text/plain, CRLF line ends):\n";
      std::string_view p = r.policy;
      while (!p.empty()) {
        size_t eol = p.find('\n');
        std::string_view line = p.substr(0, eol);
        if (line.ends_with('\r')) line.remove_suffix(1);
        out += ";   " + std::string(line) + "\n";
        if (eol == std::string_view::npos) break;
        p.remove_prefix(eol + 1);
      }
    }
  }
  return out;
}

std::string records_json(const std::vector<DnsRecord>& records) {
  boost::json::array a;
  for (const DnsRecord& r : records) {
    boost::json::object o{
        {"name", r.name}, {"type", r.type}, {"value", r.value}, {"purpose", r.purpose}};
    if (!r.policy.empty()) o["policy"] = r.policy;
    a.push_back(std::move(o));
  }
  return boost::json::serialize(a) + "\n";
}

// ---------------------------------------------------------------- comparing

std::string_view verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kOk:
      return "ok";
    case Verdict::kMissing:
      return "missing";
    case Verdict::kWrong:
      return "wrong";
    case Verdict::kError:
      return "error";
  }
  return "?";
}

namespace {

// A published record in the form of DnsRecord::value.
std::string published_value(const dns::Record& r) {
  switch (r.type) {
    case dns::RrType::kMx:
      return std::to_string(r.preference) + " " + fqdn(r.text);
    case dns::RrType::kCname:
      return fqdn(r.text);
    case dns::RrType::kTxt: {
      if (!r.text.empty() || r.strings.empty()) return r.text;
      std::string t;
      for (const auto& s : r.strings) t += s;
      return t;
    }
    case dns::RrType::kTlsa:
      return std::to_string(r.tlsa[0]) + " " + std::to_string(r.tlsa[1]) + " " +
             std::to_string(r.tlsa[2]) + " " + hex(r.data);
    case dns::RrType::kA:
    case dns::RrType::kAaaa:
      return r.text;
    default:
      break;
  }
  if (r.type == kSrvType && r.rdata.size() >= 7) {
    auto u16 = [&](size_t i) {
      return (static_cast<unsigned>(static_cast<unsigned char>(r.rdata[i])) << 8) |
             static_cast<unsigned char>(r.rdata[i + 1]);
    };
    size_t pos = 6;
    auto target = dns::read_name(r.rdata, &pos);
    std::string t = target ? (target->empty() ? "." : fqdn(*target)) : "?";
    return std::to_string(u16(0)) + " " + std::to_string(u16(2)) + " " +
           std::to_string(u16(4)) + " " + t;
  }
  return hex(r.rdata);
}

bool starts_with_tag(std::string_view txt, std::string_view version) {
  // "v=spf1" then white space or the end; "v=DMARC1" then ';', white space or the end.
  size_t i = 0;
  while (i < txt.size() && (txt[i] == ' ' || txt[i] == '\t')) ++i;
  txt.remove_prefix(i);
  if (txt.size() < version.size() || !iequal(txt.substr(0, version.size()), version)) {
    return false;
  }
  if (txt.size() == version.size()) return true;
  char next = txt[version.size()];
  return next == ' ' || next == '\t' || next == ';';
}

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  std::istringstream in{std::string(s)};
  std::string w;
  while (in >> w) out.push_back(lower(w));
  return out;
}

// A rua URI as compared: lower-case, without a "!size" suffix (RFC 7489 6.2).
std::string rua_key(std::string_view uri) {
  std::string u = lower(uri);
  while (!u.empty() && (u.back() == ' ' || u.back() == '\t')) u.pop_back();
  size_t bang = u.find('!');
  if (bang != std::string::npos) u.erase(bang);
  size_t start = u.find_first_not_of(" \t");
  return start == std::string::npos ? "" : u.substr(start);
}

struct Judgement {
  Verdict verdict;
  std::string why;
};

Judgement ok() { return {Verdict::kOk, ""}; }
Judgement wrong(std::string why) { return {Verdict::kWrong, std::move(why)}; }

// RFC 7208 4.6: the terms we publish must be there, with the same "all"; extra
// mechanisms (a smart host's include:, ip4:) are the admin's business.
Judgement compare_spf(const std::string& expected, const std::string& published) {
  std::vector<std::string> want = words(expected), have = words(published);
  auto is_all = [](const std::string& t) { return t.size() <= 4 && t.ends_with("all"); };
  auto all_of = [&](const std::vector<std::string>& terms) {
    for (const auto& t : terms) {
      if (is_all(t)) return t == "all" ? std::string("+all") : t;
    }
    return std::string();
  };
  for (const auto& t : want) {
    if (is_all(t)) continue;
    if (std::find(have.begin(), have.end(), t) == have.end() &&
        std::find(have.begin(), have.end(), "+" + t) == have.end()) {
      return wrong("no \"" + t + "\" mechanism");
    }
  }
  std::string want_all = all_of(want), have_all = all_of(have);
  if (want_all != have_all) {
    return wrong("ends in " + (have_all.empty() ? std::string("no all") : have_all) +
                 ", expected " + want_all);
  }
  return ok();
}

Judgement compare_dkim(const std::string& expected, const std::string& published) {
  dkim::ParsedKey want = dkim::parse_key_record(expected);
  dkim::ParsedKey have = dkim::parse_key_record(published);
  if (!have.key) return wrong("not a DKIM key record: " + have.error.message);
  if (!want.key) return wrong("internal: " + want.error.message);
  if (!iequal(have.key->key_type, want.key->key_type)) {
    return wrong("k=" + have.key->key_type + ", expected k=" + want.key->key_type);
  }
  if (have.key->public_key.empty()) return wrong("the key is revoked (empty p=)");
  if (have.key->public_key != want.key->public_key) return wrong("a different public key (p=)");
  return ok();
}

Judgement compare_dmarc(const std::string& expected, const std::string& published) {
  auto want = auth::dmarc::parse_record(expected);
  auto have = auth::dmarc::parse_record(published);
  if (!have) return wrong("not a valid DMARC record: " + have.error().message());
  if (!want) return wrong("internal: " + want.error().message());
  if (have->p_assumed) return wrong("no valid p= tag");
  if (have->p != want->p) {
    return wrong("p=" + std::string(auth::dmarc::policy_name(have->p)) + ", expected p=" +
                 std::string(auth::dmarc::policy_name(want->p)));
  }
  for (const auto& w : want->rua) {
    bool found = false;
    for (const auto& h : have->rua) found = found || rua_key(h) == rua_key(w);
    if (!found) return wrong("rua= lacks " + w);
  }
  return ok();
}

Judgement compare_mta_sts(const std::string& expected, const std::string& published) {
  auto have = smtp::mta_sts::parse_txt(published);
  if (!have) return wrong("not a valid MTA-STS record: " + have.error().message());
  auto want = smtp::mta_sts::parse_txt(expected);
  if (!want) return wrong("internal: " + want.error().message());
  if (have->id != want->id) {
    return wrong("id=" + have->id + " is stale, the policy is now id=" + want->id);
  }
  return ok();
}

Judgement compare_tls_rpt(const std::string& expected, const std::string& published) {
  auto have = smtp::tls_rpt::parse_txt(published);
  if (!have) return wrong("not a valid TLS-RPT record: " + have.error().message());
  auto want = smtp::tls_rpt::parse_txt(expected);
  if (!want) return wrong("internal: " + want.error().message());
  for (const auto& w : want->rua) {
    bool found = false;
    for (const auto& h : have->rua) found = found || rua_key(h) == rua_key(w);
    if (!found) return wrong("rua= lacks " + w);
  }
  return ok();
}

// The TXT records of an answer that carry `version` (all of them when version is empty).
std::vector<std::string> select_txt(const std::vector<std::string>& texts,
                                    std::string_view version) {
  std::vector<std::string> out;
  for (const auto& t : texts) {
    if (version.empty() || starts_with_tag(t, version)) out.push_back(t);
  }
  return out;
}

Judgement compare_txt(const DnsRecord& e, const std::vector<std::string>& texts) {
  std::string_view version;
  switch (e.kind) {
    case RecordKind::kSpf:
      version = "v=spf1";
      break;
    case RecordKind::kDmarc:
    case RecordKind::kDmarcReport:
      version = "v=DMARC1";
      break;
    case RecordKind::kMtaSts:
      version = "v=STSv1";
      break;
    case RecordKind::kTlsRpt:
      version = "v=TLSRPTv1";
      break;
    default:
      break;  // DKIM: every TXT record at the selector's name is a key record
  }
  std::vector<std::string> found = select_txt(texts, version);
  if (found.empty()) {
    return {Verdict::kMissing, "no " + std::string(version) + " record among the TXT records"};
  }
  if (e.kind == RecordKind::kDmarcReport) return ok();
  if (found.size() > 1) {
    // RFC 7208 4.5, RFC 7489 6.6.3, RFC 8461 3.1, RFC 8460 3: several records void them.
    return wrong(std::to_string(found.size()) + " records where one is allowed");
  }
  switch (e.kind) {
    case RecordKind::kSpf:
      return compare_spf(e.value, found[0]);
    case RecordKind::kDkim:
      return compare_dkim(e.value, found[0]);
    case RecordKind::kDmarc:
      return compare_dmarc(e.value, found[0]);
    case RecordKind::kMtaSts:
      return compare_mta_sts(e.value, found[0]);
    case RecordKind::kTlsRpt:
      return compare_tls_rpt(e.value, found[0]);
    default:
      return wrong("internal: not a TXT kind");
  }
}

Judgement compare_mx(const DnsRecord& e, const std::vector<dns::Record>& records) {
  std::set<std::string> have;
  for (const auto& r : records) have.insert(bare_name(r.text));
  std::string ours = bare_name(e.value.substr(e.value.find(' ') + 1));
  if (have.count("") != 0) return wrong("a null MX: the domain accepts no mail (RFC 7505)");
  std::string others;
  for (const auto& h : have) {
    if (h != ours) others += (others.empty() ? "" : ", ") + h;
  }
  if (have.count(ours) == 0 && others.empty()) return wrong("no MX record names " + ours);
  if (have.count(ours) == 0) return wrong("MX hosts that are not this server: " + others);
  if (!others.empty()) return wrong("MX hosts besides this server: " + others);
  return ok();
}

Judgement compare_srv(const DnsRecord& e, const std::vector<std::string>& published) {
  // Priority and weight are the admin's choice; port and target must match.
  auto key = [](const std::string& v) {
    std::vector<std::string> w = words(v);
    if (w.size() != 4) return std::string("?");
    std::string target = w[3] == "." ? "." : bare_name(w[3]);
    return w[2] + " " + (target.empty() ? "." : target);
  };
  std::set<std::string> have;
  for (const auto& p : published) have.insert(key(p));
  std::string want = key(e.value);
  if (have == std::set<std::string>{want}) return ok();
  if (want.ends_with(" .")) return wrong("the service is not offered here: target \".\" expected");
  return wrong("port and target should be " + want);
}

Judgement compare_tlsa(const DnsRecord& e, const std::vector<std::string>& published) {
  // A rollover publishes the next key beside the current one: ours must be among them.
  for (const auto& p : published) {
    if (lower(p) == lower(e.value)) return ok();
  }
  return wrong("no TLSA record matches the public key of tls.certificate");
}

Judgement compare_alias(const DnsRecord& e, const std::vector<dns::Record>& records) {
  for (const auto& r : records) {
    if (bare_name(r.text) != bare_name(e.value)) {
      return wrong("an alias of " + r.text + ", expected " + bare_name(e.value));
    }
  }
  return ok();
}

std::string failure_why(const dns::Answer& a) {
  std::string w(dns::status_name(a.status));
  if (!a.why.empty()) w += ": " + a.why;
  return w;
}

}  // namespace

CheckResult compare(const DnsRecord& expected, const dns::Answer& answer) {
  CheckResult r;
  r.expected = expected;
  for (const auto& rec : answer.records) r.published.push_back(published_value(rec));
  if (!answer.definite()) {
    r.verdict = Verdict::kError;
    r.why = failure_why(answer);
    return r;
  }
  if (answer.status != dns::Status::kOk || answer.records.empty()) {
    r.verdict = Verdict::kMissing;
    r.why = answer.status == dns::Status::kNxDomain ? "NXDOMAIN" : "NODATA";
    return r;
  }
  Judgement j{Verdict::kError, ""};
  switch (expected.kind) {
    case RecordKind::kMx:
      j = compare_mx(expected, answer.records);
      break;
    case RecordKind::kAlias:
      j = compare_alias(expected, answer.records);
      break;
    case RecordKind::kSrv:
      j = compare_srv(expected, r.published);
      break;
    case RecordKind::kTlsa:
      j = compare_tlsa(expected, r.published);
      break;
    default:
      j = compare_txt(expected, r.published);
      break;
  }
  r.verdict = j.verdict;
  r.why = std::move(j.why);
  return r;
}

CheckResult compare_alias_addresses(const DnsRecord& expected, const dns::Answer& name_a,
                                    const dns::Answer& name_aaaa, const dns::Answer& host_a,
                                    const dns::Answer& host_aaaa) {
  CheckResult r;
  r.expected = expected;
  auto addresses = [](const dns::Answer& a) {
    std::set<std::string> out;
    if (a.status == dns::Status::kOk) {
      for (const auto& rec : a.records) out.insert(rec.text);
    }
    return out;
  };
  std::set<std::string> na = addresses(name_a), n6 = addresses(name_aaaa);
  for (const auto& x : na) r.published.push_back("A " + x);
  for (const auto& x : n6) r.published.push_back("AAAA " + x);
  for (const dns::Answer* a : {&name_a, &name_aaaa, &host_a, &host_aaaa}) {
    if (!a->definite()) {
      r.verdict = Verdict::kError;
      r.why = failure_why(*a);
      return r;
    }
  }
  if (na.empty() && n6.empty()) {
    r.verdict = Verdict::kMissing;
    r.why = "no CNAME and no address";
    return r;
  }
  std::string host = bare_name(expected.value);
  if (na == addresses(host_a) && n6 == addresses(host_aaaa)) {
    r.verdict = Verdict::kOk;
    return r;
  }
  r.verdict = Verdict::kWrong;
  r.why = "its addresses are not those of " + host;
  return r;
}

std::vector<CheckResult> check_records(dns::Resolver& resolver,
                                       const std::vector<DnsRecord>& expected,
                                       const std::string& hostname) {
  auto type_of = [](const DnsRecord& r) {
    if (r.type == "SRV") return kSrvType;
    return dns::parse_type(r.type).value_or(dns::RrType::kTxt);
  };
  // Every lookup starts at once, so a dead server costs one time-out, not one per record.
  std::vector<std::optional<dns::Answer>> answers(expected.size());
  size_t left = expected.size();
  for (size_t i = 0; i < expected.size(); ++i) {
    resolver.query(expected[i].name, type_of(expected[i]), [&answers, &left, i](dns::Answer a) {
      answers[i] = std::move(a);
      --left;
    });
  }
  while (left > 0) resolver.wait();

  std::vector<CheckResult> results;
  std::vector<size_t> by_address;  // aliases published as addresses (no CNAME)
  for (size_t i = 0; i < expected.size(); ++i) {
    const dns::Answer& a = *answers[i];
    if (expected[i].kind == RecordKind::kAlias && a.status == dns::Status::kNoData) {
      by_address.push_back(i);
    }
    results.push_back(compare(expected[i], a));
  }
  if (by_address.empty()) return results;

  // Second round: A and AAAA of those names and of the hostname.
  std::vector<std::pair<std::string, dns::RrType>> asks;
  for (size_t i : by_address) {
    asks.emplace_back(expected[i].name, dns::RrType::kA);
    asks.emplace_back(expected[i].name, dns::RrType::kAaaa);
  }
  asks.emplace_back(hostname, dns::RrType::kA);
  asks.emplace_back(hostname, dns::RrType::kAaaa);
  std::vector<std::optional<dns::Answer>> more(asks.size());
  left = asks.size();
  for (size_t i = 0; i < asks.size(); ++i) {
    resolver.query(asks[i].first, asks[i].second, [&more, &left, i](dns::Answer a) {
      more[i] = std::move(a);
      --left;
    });
  }
  while (left > 0) resolver.wait();
  const dns::Answer& host_a = *more[asks.size() - 2];
  const dns::Answer& host_aaaa = *more[asks.size() - 1];
  for (size_t k = 0; k < by_address.size(); ++k) {
    size_t i = by_address[k];
    results[i] = compare_alias_addresses(expected[i], *more[2 * k], *more[2 * k + 1], host_a,
                                         host_aaaa);
  }
  return results;
}

namespace {

std::string shown(const DnsRecord& e, const std::string& value) {
  return e.type == "TXT" ? "\"" + value + "\"" : value;
}

}  // namespace

std::string check_text(const std::vector<CheckResult>& results) {
  std::string out;
  for (const CheckResult& r : results) {
    std::string v(verdict_name(r.verdict));
    v.resize(std::max<size_t>(v.size(), 7), ' ');
    out += v + " " + r.expected.name + " " + r.expected.type;
    if (r.verdict != Verdict::kOk) {
      if (r.verdict == Verdict::kWrong) {
        out += ": published ";
        for (size_t i = 0; i < r.published.size(); ++i) {
          out += (i ? " | " : "") + shown(r.expected, r.published[i]);
        }
        out += ";";
      } else {
        out += ":";
      }
      out += " expected " + shown(r.expected, r.expected.value);
      if (!r.why.empty()) out += " (" + r.why + ")";
    }
    out += "\n";
  }
  return out;
}

std::string check_json(const std::vector<CheckResult>& results) {
  boost::json::array a;
  for (const CheckResult& r : results) {
    boost::json::array published;
    for (const auto& p : r.published) published.emplace_back(p);
    boost::json::object o{{"name", r.expected.name},
                          {"type", r.expected.type},
                          {"status", verdict_name(r.verdict)},
                          {"expected", r.expected.value},
                          {"published", std::move(published)},
                          {"why", r.why},
                          {"purpose", r.expected.purpose}};
    a.push_back(std::move(o));
  }
  return boost::json::serialize(a) + "\n";
}

int check_exit_code(const std::vector<CheckResult>& results) {
  bool failed = false, bad = false;
  for (const CheckResult& r : results) {
    failed = failed || r.verdict == Verdict::kError;
    bad = bad || r.verdict == Verdict::kMissing || r.verdict == Verdict::kWrong;
  }
  if (failed) return base::to_int(base::ExitCode::kTempFail);
  return bad ? base::to_int(base::ExitCode::kNo) : 0;
}

}  // namespace postern::admin
