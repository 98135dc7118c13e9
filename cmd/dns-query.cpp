// dns-query: look names up through Postern's resolver and print the records in zone-file
// syntax, with the answer's status and DNSSEC state. See dns-query(1).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <string>
#include <vector>

#include "base/cli.h"
#include "base/exit_code.h"
#include "base/fd.h"
#include "config/config.h"
#include "config/dns.h"
#include "dns/dns.h"
#include "dns/rdata.h"

namespace {

namespace dns = postern::dns;
using postern::base::Error;
using postern::base::ExitCode;

struct Options {
  std::string name;
  std::vector<std::string> types;
  bool json = false;
};

std::string text_form(const std::string& name, dns::RrType type, const dns::Answer& a) {
  std::string s;
  for (const auto& r : a.records) s += dns::zone_line(r) + "\n";
  // The status as a comment, so the output stays a zone file ZoneResolver reads.
  s += "; " + (name.empty() ? "." : name) + " " + std::string(dns::type_name(type)) + " " +
       std::string(dns::status_name(a.status)) + " " + (a.secure ? "secure" : "insecure");
  if (!a.why.empty()) s += " (" + a.why + ")";
  return s + "\n";
}

std::string json_form(const std::string& name, dns::RrType type, const dns::Answer& a) {
  boost::json::array records;
  for (const auto& r : a.records) {
    boost::json::object o{{"name", r.name},
                          {"type", dns::type_name(r.type)},
                          {"ttl", r.ttl},
                          {"data", dns::zone_data(r)}};
    if (r.type == dns::RrType::kTxt) o["text"] = r.text;
    records.push_back(std::move(o));
  }
  boost::json::object doc{{"name", name},
                          {"type", dns::type_name(type)},
                          {"status", dns::status_name(a.status)},
                          {"secure", a.secure},
                          {"records", std::move(records)}};
  if (!a.why.empty()) doc["why"] = a.why;
  return boost::json::serialize(doc) + "\n";
}

int run(const Options& o, const dns::ResolverOptions& ro) {
  std::vector<dns::RrType> types;
  for (const auto& t : o.types) {
    auto rr = dns::parse_type(t);
    if (!rr) return postern::base::fail(Error::usage("unknown record type " + t));
    types.push_back(*rr);
  }
  if (types.empty()) types.push_back(dns::RrType::kA);
  auto resolver = dns::make_resolver(ro);
  if (!resolver) return postern::base::fail(resolver.error());
  // Every lookup starts at once; answers are printed in the order the types were asked.
  std::vector<std::optional<dns::Answer>> answers(types.size());
  size_t left = types.size();
  for (size_t i = 0; i < types.size(); ++i) {
    (*resolver)->query(o.name, types[i], [&answers, &left, i](dns::Answer a) {
      answers[i] = std::move(a);
      --left;
    });
  }
  while (left > 0) (*resolver)->wait();
  int rc = 0;
  std::string name = o.name;
  while (!name.empty() && name.back() == '.') name.pop_back();
  for (size_t i = 0; i < types.size(); ++i) {
    const dns::Answer& a = *answers[i];
    if (!postern::base::write_stdout(o.json ? json_form(name, types[i], a)
                                            : text_form(name, types[i], a)))
      return rc;
    if (!a.definite()) rc = postern::base::to_int(ExitCode::kTempFail);
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"look up DNS records through Postern's resolver"};
  Options o;
  app.add_option("name", o.name, "the domain name to look up")->type_name("NAME")->required();
  app.add_option("types", o.types, "record types: A AAAA MX TXT CNAME PTR NS TLSA SOA (default A)")
      ->type_name("TYPE");
  app.add_flag("-j,--json", o.json, "print one JSON object per type (JSON Lines)");
  return postern::config::run_with_resolver(
      argc, argv, app, {.name = "dns-query"},
      [&](const dns::ResolverOptions& r) { return run(o, r); });
}
