// Unit tests for lib/admin/dns_records: the records a domain must publish, computed from a
// config with an RSA and an Ed25519 DKIM key and a certificate made here, and the
// comparison of published answers with them (tags not bytes, stale MTA-STS id, DMARC
// policy, MX as a set), also through the zone-file resolver.
#include "admin/dns_records.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "auth/dkim.h"
#include "base/fd.h"
#include "config/config.h"
#include "dns/zone_resolver.h"

namespace postern::admin {
namespace {

namespace dkim = auth::dkim;

// A self-signed P-256 certificate made with the openssl command (tests link no OpenSSL);
// *spki_sha256 gets the hex SHA-256 of its DER SubjectPublicKeyInfo as openssl and
// sha256sum compute it. "" when openssl is missing.
std::string make_certificate(const std::string& dir, std::string* spki_sha256) {
  std::string cmd = "cd '" + dir +
                    "' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                    "-days 2 -subj /CN=mail.example.org -keyout k.pem -out c.pem 2>/dev/null && "
                    "openssl x509 -in c.pem -pubkey -noout | openssl pkey -pubin -outform DER | "
                    "sha256sum | cut -c1-64 > spki.txt";
  if (std::system(cmd.c_str()) != 0) return "";
  std::ifstream in(dir + "/spki.txt");
  std::getline(in, *spki_sha256);
  std::ifstream c(dir + "/c.pem");
  std::stringstream ss;
  ss << c.rdbuf();
  return ss.str();
}

class DnsRecordsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto rsa = dkim::generate_key(false, 2048);
    auto ed = dkim::generate_key(true, 0);
    ASSERT_TRUE(rsa && ed);
    rsa_ = new dkim::PrivateKey(*rsa);
    ed_ = new dkim::PrivateKey(*ed);
    base::TempDir d("postern-dns-records-cert");
    cert_pem_ = new std::string(make_certificate(d.path(), &spki_));
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete ed_;
    delete cert_pem_;
  }

  std::string write(const std::string& name, const std::string& text) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  // The test configuration: an RSA key for example.org, an Ed25519 key for
  // lists.example.org, an unrelated key for example.net, a certificate, submission
  // listeners.
  void SetUp() override {
    if (cert_pem_->empty()) GTEST_SKIP() << "the openssl command is missing";
  }

  std::string config_text(const std::string& extra = "") {
    write("rsa.pem", rsa_->to_pem());
    write("ed.pem", ed_->to_pem());
    write("net.pem", ed_->to_pem());
    write("cert.pem", *cert_pem_);
    return "server:\n"
           "  hostname: Mail.Example.ORG.\n"
           "tls:\n"
           "  certificate: cert.pem\n"
           "  key: cert.pem\n"
           "delivery:\n"
           "  dkim:\n"
           "    - {domain: example.org, selector: r2026, key: rsa.pem}\n"
           "    - {domain: Lists.Example.org, selector: e2026, key: ed.pem}\n"
           "    - {domain: example.net, selector: n1, key: net.pem}\n"
           "listeners:\n"
           "  - {name: mx, address: \"0.0.0.0:25\", mode: mx}\n"
           "  - {name: sub, address: \"0.0.0.0:587\", mode: submission}\n"
           "  - {name: subs, address: \"[::]:465\", mode: submissions}\n" +
           extra;
  }

  config::Config load(const std::string& extra = "", const std::vector<std::string>& sets = {}) {
    auto c = config::load(write("postern.yaml", config_text(extra)), sets);
    EXPECT_TRUE(c) << (c ? "" : c.error().message());
    return c ? *c : config::Config();
  }

  DomainSettings settings(const std::string& domain, const std::vector<std::string>& sets = {}) {
    auto s = domain_settings(load("", sets), domain);
    EXPECT_TRUE(s) << (s ? "" : s.error().message());
    return s ? *s : DomainSettings();
  }

  static std::map<std::string, DnsRecord> by_name_type(const std::vector<DnsRecord>& recs) {
    std::map<std::string, DnsRecord> m;
    for (const auto& r : recs) m[r.name + " " + r.type] = r;
    return m;
  }

  static inline dkim::PrivateKey* rsa_ = nullptr;
  static inline dkim::PrivateKey* ed_ = nullptr;
  static inline std::string* cert_pem_ = nullptr;
  static inline std::string spki_;
  base::TempDir dir_{"postern-dns-records-test"};
};

TEST_F(DnsRecordsTest, EveryRecordOfADomain) {
  DomainSettings s = settings("Lists.Example.ORG.");
  EXPECT_EQ(s.domain, "lists.example.org");
  EXPECT_EQ(s.hostname, "mail.example.org");
  ASSERT_EQ(s.dkim.size(), 2u);  // not example.net's key
  auto recs = expected_records(s);
  auto m = by_name_type(recs);
  const std::string rsa_txt =
      "v=DKIM1; k=rsa; p=" + dkim::base64_encode(rsa_->public_key_record());
  const std::string ed_txt =
      "v=DKIM1; k=ed25519; p=" + dkim::base64_encode(ed_->public_key_record());
  std::string policy =
      "version: STSv1\r\nmode: testing\r\nmx: mail.example.org\r\nmax_age: 604800\r\n";
  std::vector<std::pair<std::string, std::string>> want = {
      {"lists.example.org. MX", "10 mail.example.org."},
      {"lists.example.org. TXT", "v=spf1 mx -all"},
      {"r2026._domainkey.example.org. TXT", rsa_txt},
      {"e2026._domainkey.lists.example.org. TXT", ed_txt},
      {"_dmarc.lists.example.org. TXT", "v=DMARC1; p=quarantine; rua=mailto:postmaster@lists.example.org"},
      {"_mta-sts.lists.example.org. TXT", "v=STSv1; id=" + mta_sts_policy_id(policy)},
      {"mta-sts.lists.example.org. CNAME", "mail.example.org."},
      {"_smtp._tls.lists.example.org. TXT", "v=TLSRPTv1; rua=mailto:tlsrpt@lists.example.org"},
      {"_submissions._tcp.lists.example.org. SRV", "0 1 465 mail.example.org."},
      {"_submission._tcp.lists.example.org. SRV", "0 1 587 mail.example.org."},
      {"_imaps._tcp.lists.example.org. SRV", "0 0 0 ."},
      {"_imap._tcp.lists.example.org. SRV", "0 0 0 ."},
      {"autoconfig.lists.example.org. CNAME", "mail.example.org."},
      {"autodiscover.lists.example.org. CNAME", "mail.example.org."},
      {"_autodiscover._tcp.lists.example.org. SRV", "0 1 443 mail.example.org."},
      {"_25._tcp.mail.example.org. TLSA", "3 1 1 " + spki_},
  };
  EXPECT_EQ(recs.size(), want.size());
  for (const auto& [key, value] : want) {
    ASSERT_TRUE(m.count(key)) << key;
    EXPECT_EQ(m[key].value, value) << key;
    EXPECT_FALSE(m[key].purpose.empty()) << key;
  }
  EXPECT_EQ(m["_mta-sts.lists.example.org. TXT"].policy, policy);
  EXPECT_EQ(mta_sts_policy_text(load()), policy);
  // The DKIM records parse as key records holding the very public keys.
  auto rk = dkim::parse_key_record(rsa_txt);
  ASSERT_TRUE(rk.key);
  EXPECT_EQ(rk.key->public_key, rsa_->public_key_record());
}

TEST_F(DnsRecordsTest, PolicyIdFollowsThePolicy) {
  std::string a = mta_sts_policy_text("testing", "mail.example.org", 604800);
  std::string b = mta_sts_policy_text("enforce", "mail.example.org", 604800);
  EXPECT_EQ(mta_sts_policy_id(a).size(), 16u);
  EXPECT_EQ(mta_sts_policy_id(a), mta_sts_policy_id(a));
  EXPECT_NE(mta_sts_policy_id(a), mta_sts_policy_id(b));
  // SHA-256("abc") starts ba7816bf8f01cfea.
  EXPECT_EQ(mta_sts_policy_id("abc"), "ba7816bf8f01cfea");
  DomainSettings s = settings("example.org", {"mta_sts.mode=enforce", "mta_sts.max_age=1d"});
  auto m = by_name_type(expected_records(s));
  EXPECT_EQ(m["_mta-sts.example.org. TXT"].policy,
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.org\r\nmax_age: 86400\r\n");
  EXPECT_EQ(m["_mta-sts.example.org. TXT"].value,
            "v=STSv1; id=" + mta_sts_policy_id(m["_mta-sts.example.org. TXT"].policy));
}

TEST_F(DnsRecordsTest, SubdomainsDmarcAndTlsRptSettings) {
  DomainSettings s = settings("lists.example.org",
                              {"dmarc.policy=reject", "dmarc.report_address=dmarc@reports.example.net",
                               "delivery.tls_rpt.contact=tls@example.org"});
  ASSERT_EQ(s.dkim.size(), 2u);  // its own key, and the parent domain's
  EXPECT_EQ(settings("example.org").dkim.size(), 1u);  // not the subdomain's
  auto m = by_name_type(expected_records(s));
  // The DKIM keys stay at the key's domain.
  EXPECT_TRUE(m.count("r2026._domainkey.example.org. TXT"));
  EXPECT_EQ(m["_dmarc.lists.example.org. TXT"].value,
            "v=DMARC1; p=reject; rua=mailto:dmarc@reports.example.net");
  // RFC 7489 7.1: a report address elsewhere needs its domain's consent.
  EXPECT_EQ(m["lists.example.org._report._dmarc.reports.example.net. TXT"].value, "v=DMARC1");
  EXPECT_EQ(m["_smtp._tls.lists.example.org. TXT"].value, "v=TLSRPTv1; rua=mailto:tls@example.org");
  // A domain with no key: no DKIM record.
  DomainSettings other = settings("example.com");
  EXPECT_TRUE(other.dkim.empty());
  for (const auto& r : expected_records(other)) EXPECT_NE(r.kind, RecordKind::kDkim);
}

TEST_F(DnsRecordsTest, NoCertificateNoTlsa) {
  auto c = config::load(write("plain.yaml", "server:\n  hostname: mx.example.com\n"));
  ASSERT_TRUE(c);
  auto s = domain_settings(*c, "example.com");
  ASSERT_TRUE(s);
  for (const auto& r : expected_records(*s)) {
    EXPECT_NE(r.type, "TLSA");
    if (r.name == "_autodiscover._tcp.example.com.") {
      EXPECT_EQ(r.value, "0 1 443 mx.example.com.");  // autodiscover is HTTPS, always 443
    } else if (r.type == "SRV") {
      EXPECT_EQ(r.value, "0 0 0 .") << r.name;  // no listeners at all
    }
  }
}

TEST_F(DnsRecordsTest, UnreadableFilesAreConfigErrors) {
  auto c = load();
  std::filesystem::remove(dir_.path() + "/ed.pem");
  auto s = domain_settings(c, "lists.example.org");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), base::ExitCode::kConfig);
  EXPECT_NE(s.error().message().find(dir_.path() + "/ed.pem"), std::string::npos)
      << s.error().message();
  // example.net does not use those keys: fine.
  write("ed.pem", "not a key\n");
  EXPECT_TRUE(domain_settings(c, "example.net"));
  auto bad = domain_settings(c, "lists.example.org");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), base::ExitCode::kConfig);
  write("ed.pem", ed_->to_pem());
  write("cert.pem", "garbage\n");
  auto nocert = domain_settings(c, "lists.example.org");
  ASSERT_FALSE(nocert);
  EXPECT_EQ(nocert.error().code(), base::ExitCode::kConfig);
  EXPECT_NE(nocert.error().message().find("cert.pem"), std::string::npos);
  // Not a domain: a usage error.
  auto baddomain = domain_settings(c, "no spaces.example");
  ASSERT_FALSE(baddomain);
  EXPECT_EQ(baddomain.error().code(), base::ExitCode::kUsage);
  EXPECT_FALSE(domain_settings(c, ""));
}

TEST_F(DnsRecordsTest, ZoneAndJsonOutput) {
  DomainSettings s = settings("lists.example.org");
  auto recs = expected_records(s);
  std::string zone = zone_fragment(s, recs);
  EXPECT_NE(zone.find("\nlists.example.org. IN MX 10 mail.example.org.\n"), std::string::npos) << zone;
  EXPECT_NE(zone.find("\nlists.example.org. IN TXT \"v=spf1 mx -all\"\n"), std::string::npos);
  EXPECT_NE(zone.find(";   mode: testing\n"), std::string::npos);
  EXPECT_NE(zone.find("\n_imap._tcp.lists.example.org. IN SRV 0 0 0 .\n"), std::string::npos);
  // Every non-comment line is one record; each is preceded by its comment.
  std::istringstream in(zone);
  std::string line, prev;
  int records = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ';') {
      ++records;
      EXPECT_EQ(prev.rfind("; ", 0), 0u) << line;
    }
    prev = line;
  }
  EXPECT_EQ(records, static_cast<int>(recs.size()));
  // The RSA key record is longer than 255 bytes: split into strings of at most 255.
  for (const auto& r : recs) {
    if (r.name != "r2026._domainkey.example.org.") continue;
    std::string data = zone_data(r);
    ASSERT_GT(r.value.size(), 255u);
    EXPECT_EQ(data, "\"" + r.value.substr(0, 255) + "\" \"" + r.value.substr(255) + "\"");
  }
  EXPECT_EQ(quoted_txt("a\"b"), "\"a\\\"b\"");

  auto json = boost::json::parse(records_json(recs)).as_array();
  ASSERT_EQ(json.size(), recs.size());
  EXPECT_EQ(json[0].at("name").as_string(), "lists.example.org.");
  EXPECT_EQ(json[0].at("type").as_string(), "MX");
  EXPECT_EQ(json[0].at("value").as_string(), "10 mail.example.org.");
  bool policy = false;
  for (const auto& v : json) {
    if (v.as_object().contains("policy")) {
      policy = true;
      EXPECT_EQ(v.at("type").as_string(), "TXT");
    }
  }
  EXPECT_TRUE(policy);
}

// ---------------------------------------------------------------- comparing

dns::Answer txt_answer(std::vector<std::vector<std::string>> records) {
  dns::Answer a;
  a.status = dns::Status::kOk;
  for (auto& strings : records) {
    dns::Record r;
    r.type = dns::RrType::kTxt;
    r.strings = strings;
    for (const auto& s : strings) r.text += s;
    a.records.push_back(r);
  }
  return a;
}

DnsRecord txt(RecordKind kind, std::string value) {
  return {.kind = kind, .name = "x.example.org.", .type = "TXT", .value = std::move(value)};
}

Verdict verdict(const DnsRecord& e, const dns::Answer& a) { return compare(e, a).verdict; }

TEST(DnsRecordsCompare, TxtEqualByTags) {
  auto dmarc = txt(RecordKind::kDmarc, "v=DMARC1; p=reject; rua=mailto:postmaster@example.org");
  EXPECT_EQ(verdict(dmarc, txt_answer({{"v=DMARC1;p=reject;rua=mailto:postmaster@example.org"}})),
            Verdict::kOk);
  EXPECT_EQ(verdict(dmarc, txt_answer({{"v=DMARC1; p=reject; ", "rua=MAILTO:Postmaster@example.org!10m"}})),
            Verdict::kOk);
  // Tags we do not set may be added; other TXT records at the name are ignored.
  EXPECT_EQ(verdict(dmarc, txt_answer({{"v=DMARC1; p=reject; adkim=s; rua=mailto:a@example.org,"
                                        "mailto:postmaster@example.org"},
                                       {"something else"}})),
            Verdict::kOk);
  auto wrong_policy = compare(dmarc, txt_answer({{"v=DMARC1; p=none; rua=mailto:postmaster@example.org"}}));
  EXPECT_EQ(wrong_policy.verdict, Verdict::kWrong);
  EXPECT_EQ(wrong_policy.why, "p=none, expected p=reject");
  EXPECT_EQ(wrong_policy.published,
            std::vector<std::string>{"v=DMARC1; p=none; rua=mailto:postmaster@example.org"});
  EXPECT_EQ(verdict(dmarc, txt_answer({{"v=DMARC1; p=reject"}})), Verdict::kWrong);  // no rua
  EXPECT_EQ(verdict(dmarc, txt_answer({{"v=DMARC1; p=reject; rua=mailto:postmaster@example.org"},
                                       {"v=DMARC1; p=reject; rua=mailto:postmaster@example.org"}})),
            Verdict::kWrong);  // two records: no policy at all (RFC 7489 6.6.3)
  EXPECT_EQ(verdict(dmarc, txt_answer({{"v=spf1 -all"}})), Verdict::kMissing);

  auto spf = txt(RecordKind::kSpf, "v=spf1 mx -all");
  EXPECT_EQ(verdict(spf, txt_answer({{"v=spf1  MX   -all"}})), Verdict::kOk);
  EXPECT_EQ(verdict(spf, txt_answer({{"v=spf1 mx include:relay.example.net -all"}})), Verdict::kOk);
  EXPECT_EQ(verdict(spf, txt_answer({{"v=spf1 mx ~all"}})), Verdict::kWrong);
  EXPECT_EQ(verdict(spf, txt_answer({{"v=spf1 a -all"}})), Verdict::kWrong);
  EXPECT_EQ(verdict(spf, txt_answer({{"v=spf1 mx -all"}, {"v=spf1 mx -all"}})), Verdict::kWrong);
  EXPECT_EQ(verdict(spf, txt_answer({{"google-site-verification=x"}})), Verdict::kMissing);

  auto tlsrpt = txt(RecordKind::kTlsRpt, "v=TLSRPTv1; rua=mailto:tlsrpt@example.org");
  EXPECT_EQ(verdict(tlsrpt, txt_answer({{"v=TLSRPTv1;rua=mailto:tlsrpt@example.org"}})), Verdict::kOk);
  EXPECT_EQ(verdict(tlsrpt, txt_answer({{"v=TLSRPTv1;rua=mailto:other@example.org"}})),
            Verdict::kWrong);
}

TEST(DnsRecordsCompare, StaleMtaStsId) {
  auto sts = txt(RecordKind::kMtaSts, "v=STSv1; id=0123456789abcdef");
  EXPECT_EQ(verdict(sts, txt_answer({{"v=STSv1;id=0123456789abcdef;"}})), Verdict::kOk);
  auto stale = compare(sts, txt_answer({{"v=STSv1; id=20240101"}}));
  EXPECT_EQ(stale.verdict, Verdict::kWrong);
  EXPECT_NE(stale.why.find("stale"), std::string::npos);
  EXPECT_EQ(verdict(sts, txt_answer({{"v=STSv1; id=bad-id"}})), Verdict::kWrong);
}

TEST(DnsRecordsCompare, DkimKeyWhitespaceIgnored) {
  auto key = dkim::generate_key(true, 0);
  ASSERT_TRUE(key);
  std::string p = dkim::base64_encode(key->public_key_record());
  auto e = txt(RecordKind::kDkim, dkim_key_record(true, key->public_key_record()));
  EXPECT_EQ(e.value, "v=DKIM1; k=ed25519; p=" + p);
  std::string spaced = p.substr(0, 10) + " " + p.substr(10, 20) + "\t" + p.substr(30);
  EXPECT_EQ(verdict(e, txt_answer({{"v=DKIM1;k=ed25519;", "p=" + spaced}})), Verdict::kOk);
  auto other = dkim::generate_key(true, 0);
  EXPECT_EQ(verdict(e, txt_answer({{"v=DKIM1; k=ed25519; p=" +
                                    dkim::base64_encode(other->public_key_record())}})),
            Verdict::kWrong);
  EXPECT_EQ(verdict(e, txt_answer({{"v=DKIM1; k=rsa; p=" + p}})), Verdict::kWrong);
  EXPECT_EQ(verdict(e, txt_answer({{"v=DKIM1; k=ed25519; p="}})), Verdict::kWrong);  // revoked
}

dns::Answer mx_answer(std::vector<std::pair<int, std::string>> hosts) {
  dns::Answer a;
  a.status = dns::Status::kOk;
  for (auto& [pref, host] : hosts) {
    dns::Record r;
    r.type = dns::RrType::kMx;
    r.preference = static_cast<uint16_t>(pref);
    r.text = host;
    a.records.push_back(r);
  }
  return a;
}

TEST(DnsRecordsCompare, MxAsASetOfHosts) {
  DnsRecord mx{.kind = RecordKind::kMx, .name = "example.org.", .type = "MX",
               .value = "10 mail.example.org."};
  EXPECT_EQ(verdict(mx, mx_answer({{10, "mail.example.org"}})), Verdict::kOk);
  EXPECT_EQ(verdict(mx, mx_answer({{5, "MAIL.Example.org."}})), Verdict::kOk);
  auto extra = compare(mx, mx_answer({{10, "mail.example.org"}, {20, "backup.example.net"}}));
  EXPECT_EQ(extra.verdict, Verdict::kWrong);
  EXPECT_NE(extra.why.find("backup.example.net"), std::string::npos);
  EXPECT_EQ(extra.published.size(), 2u);
  EXPECT_EQ(verdict(mx, mx_answer({{10, "other.example.org"}})), Verdict::kWrong);
  EXPECT_EQ(verdict(mx, mx_answer({{0, ""}})), Verdict::kWrong);  // null MX
  dns::Answer none;
  none.status = dns::Status::kNxDomain;
  EXPECT_EQ(verdict(mx, none), Verdict::kMissing);
  none.status = dns::Status::kNoData;
  EXPECT_EQ(verdict(mx, none), Verdict::kMissing);
  none.status = dns::Status::kTimeout;
  EXPECT_EQ(verdict(mx, none), Verdict::kError);
  none.status = dns::Status::kServFail;
  EXPECT_EQ(verdict(mx, none), Verdict::kError);
}

// The whole check over the zone-file resolver: a domain publishing exactly the records,
// then one with mistakes.
class DnsRecordsCheck : public DnsRecordsTest {
 protected:
  // A zone resolver holding `recs` (SRV records added as raw RDATA: the zone-file syntax
  // has no SRV) plus `extra` zone text.
  static std::unique_ptr<dns::ZoneResolver> zone(const std::vector<DnsRecord>& recs,
                                                 const std::string& extra,
                                                 const std::set<std::string>& skip = {}) {
    auto z = std::make_unique<dns::ZoneResolver>();
    std::string text;
    for (const auto& r : recs) {
      if (skip.count(r.name + " " + r.type)) continue;
      if (r.type == "SRV") {
        std::istringstream in(r.value);
        int prio, weight, port;
        std::string target;
        in >> prio >> weight >> port >> target;
        dns::Record s;
        s.name = r.name;
        s.type = static_cast<dns::RrType>(33);
        for (int v : {prio, weight, port}) {
          s.rdata += static_cast<char>(v >> 8);
          s.rdata += static_cast<char>(v & 255);
        }
        if (target != ".") {
          target.pop_back();
          std::istringstream labels(target);
          std::string l;
          while (std::getline(labels, l, '.')) s.rdata += static_cast<char>(l.size()) + l;
        }
        s.rdata += '\0';
        z->add(s);
        continue;
      }
      text += r.name + " " + r.type + " " + zone_data(r) + "\n";
    }
    text += extra;
    auto st = z->parse(text);
    EXPECT_TRUE(st) << (st ? "" : st.error().message()) << "\n" << text;
    return z;
  }
};

TEST_F(DnsRecordsCheck, GoodZoneAllOk) {
  DomainSettings s = settings("lists.example.org");
  auto recs = expected_records(s);
  auto z = zone(recs, "");
  auto results = check_records(*z, recs, s.hostname);
  ASSERT_EQ(results.size(), recs.size());
  for (const auto& r : results) {
    EXPECT_EQ(r.verdict, Verdict::kOk) << r.expected.name << " " << r.expected.type << " " << r.why;
  }
  EXPECT_EQ(check_exit_code(results), 0);
  std::string text = check_text(results);
  EXPECT_NE(text.find("ok      lists.example.org. MX\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ok      _autodiscover._tcp.lists.example.org. SRV\n"), std::string::npos)
      << text;
}

TEST_F(DnsRecordsCheck, AutodiscoverSrvMissingOrWrong) {
  DomainSettings s = settings("lists.example.org");
  auto recs = expected_records(s);
  const std::string key = "_autodiscover._tcp.lists.example.org. SRV";
  auto verdict_of = [&](dns::Resolver& z) {
    for (const auto& r : check_records(z, recs, s.hostname)) {
      if (r.expected.name + " " + r.expected.type == key) return r;
    }
    ADD_FAILURE() << "no " << key;
    return CheckResult();
  };
  auto missing = verdict_of(*zone(recs, "", {key}));
  EXPECT_EQ(missing.verdict, Verdict::kMissing);
  EXPECT_EQ(missing.expected.value, "0 1 443 mail.example.org.");
  // Published on another port: wrong, naming what is expected.
  auto other = recs;
  for (auto& r : other) {
    if (r.name + " " + r.type == key) r.value = "0 1 8443 mail.example.org.";
  }
  auto wrong = verdict_of(*zone(other, ""));
  EXPECT_EQ(wrong.verdict, Verdict::kWrong);
  EXPECT_EQ(wrong.published, std::vector<std::string>{"0 1 8443 mail.example.org."});
  EXPECT_EQ(wrong.why, "port and target should be 443 mail.example.org");
}

TEST_F(DnsRecordsCheck, AliasesAsAddresses) {
  DomainSettings s = settings("lists.example.org");
  auto recs = expected_records(s);
  auto z = zone(recs,
                "mail.example.org A 192.0.2.25\n"
                "mail.example.org AAAA 2001:db8::25\n"
                "autoconfig.lists.example.org A 192.0.2.25\n"
                "autoconfig.lists.example.org AAAA 2001:db8::25\n"
                "autodiscover.lists.example.org A 192.0.2.99\n",
                {"autoconfig.lists.example.org. CNAME", "autodiscover.lists.example.org. CNAME",
                 "mta-sts.lists.example.org. CNAME"});
  auto results = check_records(*z, recs, s.hostname);
  std::map<std::string, CheckResult> m;
  for (const auto& r : results) m[r.expected.name] = r;
  EXPECT_EQ(m["autoconfig.lists.example.org."].verdict, Verdict::kOk) << m["autoconfig.lists.example.org."].why;
  EXPECT_EQ(m["autodiscover.lists.example.org."].verdict, Verdict::kWrong);
  EXPECT_EQ(m["autodiscover.lists.example.org."].published, std::vector<std::string>{"A 192.0.2.99"});
  EXPECT_EQ(m["mta-sts.lists.example.org."].verdict, Verdict::kMissing);
  EXPECT_EQ(check_exit_code(results), 1);
}

TEST_F(DnsRecordsCheck, BadZoneNamesEachProblem) {
  DomainSettings s = settings("lists.example.org");
  auto recs = expected_records(s);
  auto z = zone(recs,
                "_dmarc.lists.example.org TXT \"v=DMARC1; p=none; rua=mailto:postmaster@lists.example.org\"\n"
                "_mta-sts.lists.example.org TXT \"v=STSv1; id=20200101\"\n"
                "lists.example.org MX 20 mx2.example.net\n"
                "_imap._tcp.lists.example.org SERVFAIL\n",
                {"_dmarc.lists.example.org. TXT", "_mta-sts.lists.example.org. TXT",
                 "e2026._domainkey.lists.example.org. TXT", "_imap._tcp.lists.example.org. SRV"});
  auto results = check_records(*z, recs, s.hostname);
  std::map<std::string, CheckResult> m;
  for (const auto& r : results) m[r.expected.name + " " + r.expected.type] = r;
  EXPECT_EQ(m["_dmarc.lists.example.org. TXT"].verdict, Verdict::kWrong);
  EXPECT_EQ(m["_mta-sts.lists.example.org. TXT"].verdict, Verdict::kWrong);
  EXPECT_EQ(m["e2026._domainkey.lists.example.org. TXT"].verdict, Verdict::kMissing);
  EXPECT_EQ(m["r2026._domainkey.example.org. TXT"].verdict, Verdict::kOk);
  EXPECT_EQ(m["lists.example.org. MX"].verdict, Verdict::kWrong);
  EXPECT_EQ(m["_imap._tcp.lists.example.org. SRV"].verdict, Verdict::kError);
  EXPECT_EQ(check_exit_code(results), 75);  // a lookup failed: the answer is incomplete
  std::string text = check_text(results);
  EXPECT_NE(text.find("wrong   _dmarc.lists.example.org. TXT: published \"v=DMARC1; p=none; "
                      "rua=mailto:postmaster@lists.example.org\"; expected \"v=DMARC1; p=quarantine; "
                      "rua=mailto:postmaster@lists.example.org\" (p=none, expected p=quarantine)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("missing e2026._domainkey.lists.example.org. TXT: expected \"v=DKIM1; k=ed25519; p="),
            std::string::npos)
      << text;
  auto json = boost::json::parse(check_json(results)).as_array();
  ASSERT_EQ(json.size(), results.size());
  EXPECT_EQ(json[0].at("status").as_string(), "wrong");
  EXPECT_EQ(json[0].at("published").as_array().size(), 2u);
}

}  // namespace
}  // namespace postern::admin
