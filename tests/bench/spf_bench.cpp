// spf_bench: the in-library SPF rate for tests/bench/spf.bench. Loads the openspf.org
// RFC 7208 suite (rfc7208-tests.yml), each scenario's zonedata into a ZoneResolver as
// tests/unit/spf_test.cpp does, and evaluates every test case ROUNDS times with
// auth::check_host(). Zone loading is outside the timed part; each round starts from
// fresh resolvers (a ZoneResolver records every query, so reusing one would grow it).
//
//   spf_bench SUITE.yml [ROUNDS]
//
// Prints one line: cases, rounds, checks/s, µs/check, and how many results agree with the
// suite (every round must give the same answer; any disagreement exits 1).
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "auth/spf.h"
#include "dns/dns.h"
#include "dns/zone_resolver.h"

using namespace postern;
using dns::Record;
using dns::RrType;

namespace {

// The suite's DNS: a ZoneResolver, plus "a name starting with error. that is not in the
// zone times out" (the suite's SOURCE.txt).
class SuiteResolver final : public dns::Resolver {
 public:
  dns::ZoneResolver zone;
  std::set<std::string> names;

  void query(const std::string& name, RrType type, std::function<void(dns::Answer)> done) override {
    std::string n = dns::normalize_name(name);
    if (n.rfind("error.", 0) == 0 && names.count(n) == 0) {
      dns::Answer a;
      a.status = dns::Status::kTimeout;
      done(a);
      return;
    }
    zone.query(name, type, std::move(done));
  }
  void wait() override {}
};

std::vector<std::string> txt_strings(const YAML::Node& v) {
  std::vector<std::string> out;
  if (v.IsSequence()) {
    for (const auto& s : v) out.push_back(s.as<std::string>());
  } else {
    out.push_back(v.as<std::string>());
  }
  return out;
}

void load_zone(const YAML::Node& zonedata, SuiteResolver& r) {
  if (!zonedata) return;
  constexpr RrType kAll[] = {RrType::kA,  RrType::kNs,  RrType::kCname, RrType::kSoa, RrType::kPtr,
                             RrType::kMx, RrType::kTxt, RrType::kAaaa,  RrType::kTlsa};
  for (const auto& entry : zonedata) {
    std::string name = dns::normalize_name(entry.first.as<std::string>());
    r.names.insert(name);
    bool timeout = false, has_txt = false;
    std::vector<std::vector<std::string>> spf;
    std::set<RrType> present;
    auto add = [&](Record rec) {
      rec.name = name;
      present.insert(rec.type);
      r.zone.add(std::move(rec));
    };
    for (const auto& item : entry.second) {
      if (item.IsScalar()) {
        if (item.as<std::string>() == "TIMEOUT") timeout = true;
        continue;
      }
      for (const auto& kv : item) {
        std::string type = kv.first.as<std::string>();
        const YAML::Node& v = kv.second;
        Record rec;
        if (type == "SPF") {  // not queried under RFC 7208 3.1: served as TXT below
          spf.push_back(txt_strings(v));
          continue;
        }
        if (type == "TXT") {
          has_txt = true;
          if (v.IsScalar() && v.as<std::string>() == "NONE") continue;
          rec.type = RrType::kTxt;
          rec.strings = txt_strings(v);
        } else if (type == "A" || type == "AAAA") {
          rec.type = type == "A" ? RrType::kA : RrType::kAaaa;
          auto addr = auth::IpAddress::parse(v.as<std::string>());
          if (!addr) {
            std::fprintf(stderr, "spf_bench: bad address %s\n", v.as<std::string>().c_str());
            std::exit(2);
          }
          rec.text = addr->to_string();
          if (type == "AAAA" && !addr->v6) rec.text = "::ffff:" + rec.text;
        } else if (type == "MX") {
          rec.type = RrType::kMx;
          rec.preference = static_cast<uint16_t>(v[0].as<int>());
          rec.text = dns::normalize_name(v[1].as<std::string>());
        } else if (type == "PTR" || type == "CNAME") {
          rec.type = type == "PTR" ? RrType::kPtr : RrType::kCname;
          rec.text = dns::normalize_name(v.as<std::string>());
        } else {
          std::fprintf(stderr, "spf_bench: unknown zonedata type %s\n", type.c_str());
          std::exit(2);
        }
        add(std::move(rec));
      }
    }
    if (!has_txt) {
      for (auto& strings : spf) {
        Record rec;
        rec.type = RrType::kTxt;
        rec.strings = std::move(strings);
        add(std::move(rec));
      }
    }
    if (timeout) {
      for (RrType t : kAll) {
        if (!present.count(t)) r.zone.fail(name, t, dns::Status::kTimeout);
      }
    }
  }
}

struct Case {
  size_t scenario;
  auth::SpfRequest request;
  std::vector<std::string> want;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: spf_bench SUITE.yml [ROUNDS]\n");
    return 2;
  }
  int rounds = argc > 2 ? std::atoi(argv[2]) : 200;
  std::vector<YAML::Node> docs = YAML::LoadAllFromFile(argv[1]);
  std::vector<YAML::Node> zones;
  std::vector<Case> cases;
  for (const auto& doc : docs) {
    if (!doc || !doc["tests"]) continue;
    zones.push_back(doc["zonedata"]);
    for (const auto& t : doc["tests"]) {
      const YAML::Node& tc = t.second;
      Case c;
      c.scenario = zones.size() - 1;
      c.request.ip = *auth::IpAddress::parse(tc["host"].as<std::string>());
      c.request.helo = tc["helo"].as<std::string>();
      c.request.mail_from = tc["mailfrom"] ? tc["mailfrom"].as<std::string>() : "";
      c.request.receiver = "receiver.example.net";
      if (tc["result"].IsSequence()) {
        for (const auto& r : tc["result"]) c.want.push_back(r.as<std::string>());
      } else {
        c.want.push_back(tc["result"].as<std::string>());
      }
      cases.push_back(std::move(c));
    }
  }

  std::chrono::nanoseconds spent{0};
  size_t checks = 0, agree = 0;
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::unique_ptr<SuiteResolver>> resolvers;
    for (const auto& z : zones) {
      resolvers.push_back(std::make_unique<SuiteResolver>());
      load_zone(z, *resolvers.back());
    }
    size_t round_agree = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& c : cases) {
      SuiteResolver& resolver = *resolvers[c.scenario];
      auto task = auth::check_host(resolver, c.request);
      auth::SpfResult res = dns::run(resolver, task);
      std::string_view got = auth::spf_code_name(res.code);
      if (std::find(c.want.begin(), c.want.end(), got) != c.want.end()) ++round_agree;
    }
    spent += std::chrono::steady_clock::now() - t0;
    checks += cases.size();
    if (round == 0) agree = round_agree;
    if (round_agree != agree) {
      std::fprintf(stderr, "spf_bench: round %d gave %zu agreeing results, round 0 %zu\n", round,
                   round_agree, agree);
      return 1;
    }
  }
  double secs = std::chrono::duration<double>(spent).count();
  std::printf("%zu cases x %d rounds: %.0f checks/s (%.2f us/check), %zu/%zu results as the suite\n",
              cases.size(), rounds, checks / secs, 1e6 * secs / checks, agree, cases.size());
  return agree == cases.size() ? 0 : 1;
}
