// spam_settings(): thresholds and rule files into spam::Settings.
#include "config/spam.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>

#include "base/fs.h"
#include "spam/pyzor.h"

namespace postern::config {
namespace {

struct Shipped {
  const char* name;
  const char* text;
};
constexpr Shipped kShipped[] = {
#include "spam/default_rules.inc"
};

using Kind = spam::RuleDef::Kind;

std::string at(const std::string& origin, const YAML::Node& n) {
  return origin + ":" + std::to_string(n.Mark().line + 1) + ":" + std::to_string(n.Mark().column + 1);
}

base::Result<double> number(const std::string& key, const std::string& v) {
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end) return base::Error::config(key + ": not a number: " + v);
  return d;
}

}  // namespace

base::Status parse_spam_rules(const std::string& text, const std::string& origin,
                              std::vector<spam::RuleDef>& rules) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return base::Error::config(origin + ":" + std::to_string(e.mark.line + 1) + ":" +
                               std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (!doc || doc.IsNull()) return {};
  YAML::Node list = doc["rules"];
  if (!doc.IsMap() || !list || !list.IsSequence()) {
    return base::Error::config(at(origin, doc) + ": expected a mapping with a `rules:` list");
  }
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < rules.size(); ++i) index[rules[i].name] = i;
  static const char* kKinds[] = {"header", "exists", "body", "raw", "uri", "check", "meta"};
  static const char* kKeys[] = {"name", "header", "exists", "body", "raw", "uri", "check", "meta",
                                "regex", "flags", "negate", "score", "description"};
  for (const YAML::Node& r : list) {
    if (!r.IsMap()) return base::Error::config(at(origin, r) + ": a rule is a mapping");
    for (const auto& kv : r) {
      std::string key = kv.first.as<std::string>();
      if (std::none_of(std::begin(kKeys), std::end(kKeys), [&](const char* k) { return key == k; })) {
        return base::Error::config(at(origin, kv.first) + ": unknown rule key `" + key + "`");
      }
    }
    if (!r["name"]) return base::Error::config(at(origin, r) + ": a rule needs a name");
    spam::RuleDef d;
    d.name = r["name"].as<std::string>();
    d.origin = at(origin, r);
    bool valid_name = !d.name.empty() && std::all_of(d.name.begin(), d.name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
    if (!valid_name) {
      return base::Error::config(d.origin + ": rule names are letters, digits and _: " + d.name);
    }
    int kinds = 0;
    for (int k = 0; k < 7; ++k) {
      if (!r[kKinds[k]]) continue;
      ++kinds;
      d.kind = static_cast<Kind>(k);
      std::string v = r[kKinds[k]].as<std::string>();
      if (d.kind == Kind::kHeader || d.kind == Kind::kExists || d.kind == Kind::kCheck) {
        d.target = v;
      } else {
        d.regex = v;
      }
    }
    if (r["regex"]) d.regex = r["regex"].as<std::string>();
    if (r["flags"]) d.flags = r["flags"].as<std::string>();
    if (r["negate"]) d.negate = r["negate"].as<bool>();
    if (r["description"]) d.description = r["description"].as<std::string>();
    bool has_score = static_cast<bool>(r["score"]);
    if (has_score) {
      auto s = number("score", r["score"].as<std::string>());
      if (!s) return base::Error::config(at(origin, r["score"]) + ": " + s.error().message());
      d.score = *s;
    }
    auto it = index.find(d.name);
    if (kinds == 0) {
      // A name and a score: change a known rule's score.
      if (it == index.end() || !has_score) {
        return base::Error::config(d.origin + ": rule " + d.name +
                                   " has no test (header, exists, body, raw, uri, check or meta)" +
                                   (it == index.end() ? " and no earlier rule has that name" : ""));
      }
      rules[it->second].score = d.score;
      continue;
    }
    if (kinds > 1) {
      return base::Error::config(d.origin + ": rule " + d.name + " has more than one test");
    }
    if (d.kind == Kind::kHeader && d.regex.empty()) {
      return base::Error::config(d.origin + ": header rule " + d.name + " needs a regex");
    }
    if (d.flags.find_first_not_of("ism") != std::string::npos) {
      return base::Error::config(d.origin + ": flags are i, s and m: " + d.flags);
    }
    if (it != index.end()) {
      rules[it->second] = std::move(d);
    } else {
      index[d.name] = rules.size();
      rules.push_back(std::move(d));
    }
  }
  return {};
}

base::Result<spam::Settings> spam_settings(const Config& cfg,
                                           const std::vector<std::string>& extra_rules) {
  spam::Settings s;
  for (const char* key : {"spam.add_header", "spam.junk", "spam.reject"}) {
    auto v = number(key, cfg.get_string(key));
    if (!v) return base::Error::config(cfg.origin(key) + ": " + v.error().message());
    double* slot = std::string(key) == "spam.add_header" ? &s.thresholds.add_header
                   : std::string(key) == "spam.junk"     ? &s.thresholds.junk
                                                         : &s.thresholds.reject;
    *slot = *v;
  }
  for (const Shipped& f : kShipped) {
    if (auto st = parse_spam_rules(f.text, std::string("shipped ") + f.name, s.rules); !st) {
      return st.error();
    }
  }
  std::vector<std::string> paths = cfg.get_list("spam.rules");
  paths.insert(paths.end(), extra_rules.begin(), extra_rules.end());
  base::FileSystem& fs = base::real_fs();
  for (const std::string& p : paths) {
    std::vector<std::string> files;
    if (auto names = fs.list(p); names && !fs.read(p)) {
      for (const std::string& n : *names) {
        if (n.size() > 5 && (n.ends_with(".yaml") || n.ends_with(".yml"))) files.push_back(p + "/" + n);
      }
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(p);
    }
    for (const std::string& f : files) {
      auto text = fs.read(f);
      if (!text) return base::Error::config("spam rules " + f + ": " + text.error().message());
      if (auto st = parse_spam_rules(*text, f, s.rules); !st) return st.error();
    }
  }
  s.authserv_ids = cfg.get_list("spam.authserv_ids");
  s.authserv_ids.push_back(cfg.get_string("server.hostname"));
  s.protected_domains = cfg.get_list("spam.protected_domains");
  s.shorteners = cfg.get_list("spam.shorteners");
  s.regex.engine = cfg.get_string("spam.regex_engine") == "pcre2" ? spam::RegexEngine::kPcre2
                                                                  : spam::RegexEngine::kHyperscan;
  s.regex.cache_dir = cfg.get_string("spam.cache_dir");
  if (cfg.is_default("spam.cache_dir") && cfg.is_default("server.data_dir")) {
    // A tool run by hand without a config: the user's cache, not the server's data dir.
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    s.regex.cache_dir = xdg && *xdg ? std::string(xdg) + "/postern"
                        : home && *home ? std::string(home) + "/.cache/postern"
                                        : "";
  }
  // DNS blocklists: KIND:ZONE.
  auto dnsbl_score = number("spam.dnsbl.score", cfg.get_string("spam.dnsbl.score"));
  if (!dnsbl_score) return base::Error::config(cfg.origin("spam.dnsbl.score") + ": " + dnsbl_score.error().message());
  auto dnsbl_reject = number("spam.dnsbl.reject", cfg.get_string("spam.dnsbl.reject"));
  if (!dnsbl_reject) return base::Error::config(cfg.origin("spam.dnsbl.reject") + ": " + dnsbl_reject.error().message());
  s.dnsbl_reject = *dnsbl_reject;
  for (const std::string& z : cfg.get_list("spam.dnsbl.zones")) {
    size_t colon = z.find(':');
    std::string kind = colon == std::string::npos ? "" : z.substr(0, colon);
    std::string zone = colon == std::string::npos ? "" : z.substr(colon + 1);
    // KIND:ZONE=SCORE: every listing of the zone scores SCORE.
    std::optional<double> weight;
    if (size_t eq = zone.find('='); eq != std::string::npos) {
      auto w = number("spam.dnsbl.zones", zone.substr(eq + 1));
      if (!w) return base::Error::config(cfg.origin("spam.dnsbl.zones") + ": " + z + ": " + w.error().message());
      weight = *w;
      zone.resize(eq);
    }
    spam::DnsblZone d;
    bool known = false;
    for (const spam::DnsblZone& def : spam::default_dnsbl_zones()) {
      if ((kind == "spamhaus-zen" && def.kind == spam::DnsblZone::Kind::kIp) ||
          (kind == "spamhaus-dbl" && def.kind == spam::DnsblZone::Kind::kDomain)) {
        d = def;
        known = true;
      }
    }
    if (!known && (kind == "ip" || kind == "domain")) {
      d.kind = kind == "ip" ? spam::DnsblZone::Kind::kIp : spam::DnsblZone::Kind::kDomain;
      d.score = *dnsbl_score;
      d.name = "DNSBL";
      for (char c : zone) d.name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(c)) : '_';
      known = true;
    }
    if (!known) {
      return base::Error::config(cfg.origin("spam.dnsbl.zones") +
                                 ": spam.dnsbl.zones: want spamhaus-zen:ZONE, spamhaus-dbl:ZONE, "
                                 "ip:ZONE or domain:ZONE, not " + z);
    }
    d.zone = zone;
    if (weight) {
      d.score = *weight;
      for (spam::DnsblCode& c : d.codes) c.score = *weight;
    }
    if (auto st = spam::validate_zone(d); !st) {
      return base::Error::config(cfg.origin("spam.dnsbl.zones") + ": " + st.error().message());
    }
    s.dnsbl.push_back(std::move(d));
  }
  s.dnsbl_options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      cfg.get_duration("spam.dnsbl.timeout"));
  s.llm.enabled = cfg.get_bool("spam.llm.enabled");
  s.llm.url = cfg.get_string("spam.llm.url");
  s.llm.model = cfg.get_string("spam.llm.model");
  s.llm.api_key = cfg.get_string("spam.llm.api_key");
  s.llm.prompt = cfg.get_string("spam.llm.prompt");
  s.llm.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.get_duration("spam.llm.timeout"));
  s.llm.max_body_chars = static_cast<size_t>(cfg.get_int("spam.llm.max_body_chars"));
  s.pyzor_servers = cfg.get_list("spam.pyzor.servers");
  for (const std::string& server : s.pyzor_servers) {
    if (auto p = spam::pyzor::parse_server(server); !p) {
      return base::Error::config(cfg.origin("spam.pyzor.servers") + ": " + p.error().message());
    }
  }
  s.pyzor_min_count = cfg.get_int("spam.pyzor.min_count");
  auto pyzor_score = number("spam.pyzor.score", cfg.get_string("spam.pyzor.score"));
  if (!pyzor_score) return base::Error::config(cfg.origin("spam.pyzor.score") + ": " + pyzor_score.error().message());
  s.pyzor_score = *pyzor_score;
  s.pyzor_timeout_ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg.get_duration("spam.pyzor.timeout")).count());
  if (s.llm.enabled && (s.llm.url.empty() || s.llm.model.empty())) {
    return base::Error::config(cfg.origin("spam.llm.enabled") +
                               ": spam.llm.enabled needs spam.llm.url and spam.llm.model");
  }
  s.bayes = cfg.get_bool("spam.bayes");
  s.bayes_options.min_spam = s.bayes_options.min_ham = cfg.get_int("spam.bayes_min_learned");
  return s;
}

}  // namespace postern::config
