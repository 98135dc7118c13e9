// Engine: rule compilation (one RegexSet per target), builtin checks, Bayes buckets, metas.
#include "spam/engine.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <set>

#include "auth/dmarc.h"
#include "mail/header.h"
#include "spam/homograph.h"

namespace postern::spam {

using base::Error;

namespace {

// ---- builtin checks ----

struct CheckContext {
  const Analysis& a;
  const ScoreInput& in;
  const Settings& s;
  const auth::PublicSuffixList* psl;
  double bayes;
  const std::vector<HomographFinding>* homographs;
};

bool homograph_hit(const CheckContext& c, std::string_view kind, std::string* d) {
  for (const HomographFinding& f : *c.homographs) {
    if (f.kind != kind) continue;
    *d = f.display + (f.display != f.domain ? " (" + f.domain + ")" : "") +
         (f.protected_domain.empty() ? "" : " imitates " + f.protected_domain) +
         (f.detail.empty() ? "" : ": " + f.detail);
    return true;
  }
  return false;
}

std::string reg_domain(const CheckContext& c, std::string host) {
  // Compared as A-labels: a link written in Unicode and its punycode are one domain.
  if (std::any_of(host.begin(), host.end(), [](char ch) { return static_cast<unsigned char>(ch) >= 0x80; })) {
    std::string ascii = HomographChecker::to_ascii(host);
    if (!ascii.empty()) host = ascii;
  }
  if (c.psl) {
    if (auto d = c.psl->organizational_domain(host)) return *d;
  }
  size_t dot = host.rfind('.');
  if (dot == std::string::npos || dot == 0) return host;
  size_t dot2 = host.rfind('.', dot - 1);
  return dot2 == std::string::npos ? host : host.substr(dot2 + 1);
}

bool is_ip_literal(const std::string& h) {
  if (h.find(':') != std::string::npos) return true;
  return !h.empty() && std::all_of(h.begin(), h.end(), [](char ch) {
    return std::isdigit(static_cast<unsigned char>(ch)) || ch == '.';
  });
}

std::string ext_of(const std::string& name) {
  size_t dot = name.rfind('.');
  return dot == std::string::npos ? "" : mail::to_lower(name.substr(dot + 1));
}

bool executable_ext(const std::string& e) {
  static const std::set<std::string> k = {
      "exe", "scr", "com", "pif", "bat", "cmd", "js",  "jse", "vbs", "vbe", "wsf", "wsh", "hta",
      "lnk", "msi", "ps1", "jar", "iso", "img", "vhd", "vhdx", "cpl", "reg", "apk", "dll", "msc",
      "appx", "appxbundle", "msix", "xll", "one", "svg"};
  return k.count(e) > 0;
}

bool macro_ext(const std::string& e) {
  return e == "docm" || e == "xlsm" || e == "pptm" || e == "dotm" || e == "xltm" || e == "xlam" ||
         e == "ppam" || e == "potm";
}

// Something in link text that names a host: "https://x.example/…", "www.x.example",
// "x.example".
std::string host_in_text(std::string t) {
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  if (t.empty() || t.find(' ') != std::string::npos || t.find('.') == std::string::npos) return "";
  std::string lower = mail::to_lower(t);
  if (lower.rfind("http://", 0) != 0 && lower.rfind("https://", 0) != 0) t = "http://" + t;
  std::string h = url_host(t);
  if (std::any_of(h.begin(), h.end(), [](char ch) { return static_cast<unsigned char>(ch) >= 0x80; })) {
    std::string ascii = HomographChecker::to_ascii(h);  // compare as the link's host is written
    if (!ascii.empty()) h = ascii;
  }
  // A bare word with a dot ("v2.0", "Mr.Smith") is no host: want letters in the TLD.
  size_t dot = h.rfind('.');
  if (dot == std::string::npos || h.size() - dot < 3) return "";
  for (size_t i = dot + 1; i < h.size(); ++i) {
    if (!std::isalpha(static_cast<unsigned char>(h[i])) && static_cast<unsigned char>(h[i]) < 0x80) {
      return "";
    }
  }
  return h;
}

using CheckFn = std::function<bool(const CheckContext&, std::string*)>;

const std::vector<std::pair<std::string, CheckFn>>& checks() {
  static const std::vector<std::pair<std::string, CheckFn>> k = {
      {"missing_date", [](const CheckContext& c, std::string*) { return !c.a.has_date; }},
      {"invalid_date",
       [](const CheckContext& c, std::string*) { return c.a.has_date && !c.a.date; }},
      {"date_in_future",
       [](const CheckContext& c, std::string* d) {
         // Against the newest Received time (the message's own clock), else now.
         if (!c.a.date) return false;
         int64_t ref = static_cast<int64_t>(std::time(nullptr));
         for (const HeaderValue& h : c.a.headers) {
           if (h.name != "received") continue;
           size_t semi = h.raw.rfind(';');
           if (semi == std::string::npos) break;
           if (auto t = mail::parse_date(h.raw.substr(semi + 1))) ref = t->to_unix();
           break;
         }
         int64_t ahead = *c.a.date - ref;
         if (ahead > 12 * 3600) {
           *d = std::to_string(ahead / 3600) + " hours ahead of its receipt";
           return true;
         }
         return false;
       }},
      {"missing_message_id",
       [](const CheckContext& c, std::string*) { return !c.a.has_message_id; }},
      {"invalid_message_id",
       [](const CheckContext& c, std::string* d) {
         if (!c.a.has_message_id || c.a.message_id_valid) return false;
         *d = c.a.message_id;
         return true;
       }},
      {"from_reply_to_mismatch",
       [](const CheckContext& c, std::string* d) {
         if (c.a.reply_to_domain.empty() || c.a.from_domain.empty()) return false;
         if (reg_domain(c, c.a.reply_to_domain) == reg_domain(c, c.a.from_domain)) return false;
         *d = "From " + c.a.from_domain + ", Reply-To " + c.a.reply_to_domain;
         return true;
       }},
      {"from_name_has_address",
       [](const CheckContext& c, std::string* d) {
         // "paypal.com Support <x@elsewhere>" or "ann@bank.example <x@elsewhere>".
         std::string name = mail::to_lower(c.a.from_name);
         if (name.empty() || c.a.from_domain.empty()) return false;
         std::string h = host_in_text(name.substr(name.rfind('@') == std::string::npos
                                                      ? 0
                                                      : name.rfind('@') + 1));
         if (h.empty()) {
           for (size_t s = 0, e; s < name.size(); s = e + 1) {
             e = name.find(' ', s);
             if (e == std::string::npos) e = name.size();
             std::string w = name.substr(s, e - s);
             if (size_t at = w.rfind('@'); at != std::string::npos) w = w.substr(at + 1);
             if (!(h = host_in_text(w)).empty()) break;
           }
         }
         if (h.empty() || reg_domain(c, h) == reg_domain(c, c.a.from_domain)) return false;
         *d = "display name names " + h + ", address is at " + c.a.from_domain;
         return true;
       }},
      {"from_name_spoofs_local",
       [](const CheckContext& c, std::string* d) {
         // The display name claims one of our domains (or the recipient's) while the
         // address is elsewhere.
         std::string name = mail::to_lower(c.a.from_name);
         if (name.empty()) return false;
         std::vector<std::string> ours = c.s.protected_domains;
         if (!c.in.rcpt.empty()) ours.push_back(address_domain(c.in.rcpt));
         for (const std::string& dom : ours) {
           if (dom.empty() || name.find(dom) == std::string::npos) continue;
           if (c.a.from_domain == dom ||
               (c.a.from_domain.size() > dom.size() &&
                c.a.from_domain.compare(c.a.from_domain.size() - dom.size() - 1, std::string::npos,
                                        "." + dom) == 0)) {
             return false;
           }
           *d = "display name \"" + c.a.from_name + "\" from " + c.a.from_domain;
           return true;
         }
         return false;
       }},
      {"html_only", [](const CheckContext& c, std::string*) { return c.a.html_only; }},
      {"html_hidden_text",
       [](const CheckContext& c, std::string* d) {
         const HtmlFeatures& f = c.a.html_features;
         if (f.hidden_chars < 150 || f.hidden_chars * 4 < f.text_chars) return false;
         *d = std::to_string(f.hidden_chars) + " hidden characters, " +
              std::to_string(f.text_chars) + " visible";
         return true;
       }},
      {"html_form", [](const CheckContext& c, std::string*) { return c.a.html_features.forms > 0; }},
      {"html_password_input",
       [](const CheckContext& c, std::string*) { return c.a.html_features.password_inputs > 0; }},
      {"html_script", [](const CheckContext& c, std::string*) { return c.a.html_features.has_script; }},
      {"html_meta_refresh",
       [](const CheckContext& c, std::string*) { return c.a.html_features.meta_refresh; }},
      {"html_image_only",
       [](const CheckContext& c, std::string*) {
         const HtmlFeatures& f = c.a.html_features;
         return f.parts > 0 && f.images > 0 && f.text_chars < 60;
       }},
      {"url_text_mismatch",
       [](const CheckContext& c, std::string* d) {
         for (const Url& u : c.a.urls) {
           if (u.anchor_text.empty()) continue;
           std::string shown = host_in_text(u.anchor_text);
           if (shown.empty() || reg_domain(c, shown) == reg_domain(c, u.host)) continue;
           *d = "shows " + shown + ", goes to " + u.host;
           return true;
         }
         return false;
       }},
      {"url_shortener",
       [](const CheckContext& c, std::string* d) {
         for (const Url& u : c.a.urls) {
           if (u.image) continue;
           for (const std::string& s : c.s.shorteners) {
             if (u.host == s) {
               *d = u.url;
               return true;
             }
           }
         }
         return false;
       }},
      {"url_ip_host",
       [](const CheckContext& c, std::string* d) {
         for (const Url& u : c.a.urls) {
           if (is_ip_literal(u.host)) {
             *d = u.url;
             return true;
           }
         }
         return false;
       }},
      {"url_form_action_elsewhere",
       [](const CheckContext& c, std::string* d) {
         for (const Url& u : c.a.urls) {
           if (u.form_action && reg_domain(c, u.host) != reg_domain(c, c.a.from_domain)) {
             *d = "form posts to " + u.host;
             return true;
           }
         }
         return false;
       }},
      {"attachment_executable",
       [](const CheckContext& c, std::string* d) {
         for (const AttachmentInfo& at : c.a.attachments) {
           if (executable_ext(ext_of(at.filename)) || at.magic == "pe" || at.magic == "elf" ||
               at.magic == "lnk") {
             *d = at.filename.empty() ? at.content_type : at.filename;
             return true;
           }
         }
         return false;
       }},
      {"attachment_double_extension",
       [](const CheckContext& c, std::string* d) {
         for (const AttachmentInfo& at : c.a.attachments) {
           std::string n = mail::to_lower(at.filename);
           size_t last = n.rfind('.');
           if (last == std::string::npos || last == 0) continue;
           size_t prev = n.rfind('.', last - 1);
           if (prev == std::string::npos) continue;
           std::string inner = n.substr(prev + 1, last - prev - 1);
           static const std::set<std::string> docs = {"pdf", "doc", "docx", "xls", "xlsx", "jpg",
                                                      "png", "txt", "zip", "html", "htm"};
           if (docs.count(inner) && executable_ext(n.substr(last + 1))) {
             *d = at.filename;
             return true;
           }
         }
         return false;
       }},
      {"attachment_archive_executable",
       [](const CheckContext& c, std::string* d) {
         for (const AttachmentInfo& at : c.a.attachments) {
           for (const std::string& n : at.archive_names) {
             if (executable_ext(ext_of(n))) {
               *d = at.filename + " holds " + n;
               return true;
             }
           }
         }
         return false;
       }},
      {"attachment_macro",
       [](const CheckContext& c, std::string* d) {
         for (const AttachmentInfo& at : c.a.attachments) {
           if (at.has_vba || macro_ext(ext_of(at.filename))) {
             *d = at.filename;
             return true;
           }
         }
         return false;
       }},
      {"attachment_html",
       [](const CheckContext& c, std::string* d) {
         for (const AttachmentInfo& at : c.a.attachments) {
           std::string e = ext_of(at.filename);
           if (e == "html" || e == "htm" || e == "shtml" || e == "xhtml") {
             *d = at.filename;
             return true;
           }
         }
         return false;
       }},
      {"attachment_encrypted_archive",
       [](const CheckContext& c, std::string*) {
         return std::any_of(c.a.attachments.begin(), c.a.attachments.end(),
                            [](const AttachmentInfo& at) { return at.encrypted_archive; });
       }},
      {"mime_missing_delimiter",
       [](const CheckContext& c, std::string*) { return c.a.defects.missing_delimiter; }},
      {"mime_bad_encoding",
       [](const CheckContext& c, std::string*) { return c.a.defects.bad_encoding; }},
      {"mime_no_boundary",
       [](const CheckContext& c, std::string*) { return c.a.defects.multipart_no_boundary; }},
      {"mime_missing_version",
       [](const CheckContext& c, std::string*) { return c.a.defects.missing_mime_version; }},
      {"header_8bit", [](const CheckContext& c, std::string*) { return c.a.defects.eight_bit_headers; }},
      {"spf_pass", [](const CheckContext& c, std::string*) { return c.a.auth.spf == "pass"; }},
      {"spf_fail", [](const CheckContext& c, std::string*) { return c.a.auth.spf == "fail"; }},
      {"spf_softfail", [](const CheckContext& c, std::string*) { return c.a.auth.spf == "softfail"; }},
      {"dkim_pass", [](const CheckContext& c, std::string*) { return c.a.auth.dkim == "pass"; }},
      {"dkim_fail", [](const CheckContext& c, std::string*) { return c.a.auth.dkim == "fail"; }},
      {"dmarc_pass", [](const CheckContext& c, std::string*) { return c.a.auth.dmarc == "pass"; }},
      {"dmarc_fail", [](const CheckContext& c, std::string*) { return c.a.auth.dmarc == "fail"; }},
      {"arc_pass", [](const CheckContext& c, std::string*) { return c.a.auth.arc == "pass"; }},
      {"homograph_mixed_script",
       [](const CheckContext& c, std::string* d) { return homograph_hit(c, "mixed_script", d); }},
      {"homograph_whole_script",
       [](const CheckContext& c, std::string* d) {
         return homograph_hit(c, "whole_script_confusable", d);
       }},
      {"homograph_protected",
       [](const CheckContext& c, std::string* d) {
         return homograph_hit(c, "confusable_protected", d);
       }},
      {"idna_invalid", [](const CheckContext& c, std::string* d) { return homograph_hit(c, "idna_invalid", d); }},
      {"auth_results_missing",
       [](const CheckContext& c, std::string*) {
         return !c.s.authserv_ids.empty() && !c.a.auth.present;
       }},
  };
  return k;
}

// Bayes buckets: the check name and the probability range [lo, hi).
struct Bucket {
  const char* name;
  double lo, hi;
};
constexpr Bucket kBuckets[] = {
    {"bayes_00", 0, 0.01},    {"bayes_05", 0.01, 0.05}, {"bayes_20", 0.05, 0.20},
    {"bayes_40", 0.20, 0.40}, {"bayes_50", 0.40, 0.60}, {"bayes_60", 0.60, 0.80},
    {"bayes_80", 0.80, 0.95}, {"bayes_95", 0.95, 0.99}, {"bayes_99", 0.99, 0.999},
    {"bayes_999", 0.999, 1.01},
};

}  // namespace

std::string format_score(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", std::round(s * 10) / 10 + 0.0);
  return buf;
}

const std::vector<std::string>& builtin_checks() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& [name, fn] : checks()) n.push_back(name);
    for (const Bucket& b : kBuckets) n.push_back(b.name);
    return n;
  }();
  return names;
}

std::string_view action_name(Action a) {
  switch (a) {
    case Action::kNone: return "no action";
    case Action::kAddHeader: return "add header";
    case Action::kJunk: return "junk";
    case Action::kReject: return "reject";
  }
  return "no action";
}

struct Engine::Impl {
  // Regex sets: body, raw, uri, and one per header target.
  std::shared_ptr<const RegexSet> body, raw, uri;
  std::vector<uint32_t> body_rules, raw_rules, uri_rules;  // set index -> rule index
  struct HeaderSet {
    std::string target;  // "subject", "from:addr", "all"
    std::shared_ptr<const RegexSet> set;
    std::vector<uint32_t> rules;
  };
  std::vector<HeaderSet> headers;
  std::vector<std::pair<uint32_t, const CheckFn*>> check_rules;
  std::vector<std::pair<uint32_t, const Bucket*>> bucket_rules;
  std::vector<uint32_t> exists_rules;
  std::vector<std::pair<uint32_t, MetaExpr>> metas;  // in evaluation order
  const auth::PublicSuffixList* psl = nullptr;
  std::unique_ptr<HomographChecker> homographs;
  std::vector<const RegexSet*> all_sets() const {
    std::vector<const RegexSet*> v;
    for (auto* s : {body.get(), raw.get(), uri.get()}) v.push_back(s);
    for (const HeaderSet& h : headers) v.push_back(h.set.get());
    return v;
  }
};

Engine::~Engine() = default;

bool Engine::rules_from_cache() const { return impl_->body && impl_->body->from_cache(); }

AnalyzeOptions Engine::analyze_options() const {
  AnalyzeOptions o;
  o.authserv_ids = settings_.authserv_ids;
  return o;
}

base::Result<std::shared_ptr<const Engine>> Engine::create(Settings settings) {
  std::shared_ptr<Engine> e(new Engine());
  e->impl_ = std::make_unique<Impl>();
  Impl& im = *e->impl_;
  std::map<std::string, size_t> names;
  for (size_t i = 0; i < settings.rules.size(); ++i) names[settings.rules[i].name] = i;
  std::vector<RegexSet::Pattern> body, raw, uri;
  std::map<std::string, std::pair<std::vector<RegexSet::Pattern>, std::vector<uint32_t>>> hdr;
  std::vector<std::pair<uint32_t, MetaExpr>> metas;
  for (uint32_t i = 0; i < settings.rules.size(); ++i) {
    const RuleDef& r = settings.rules[i];
    auto where = [&](const std::string& m) {
      return Error::config((r.origin.empty() ? "" : r.origin + ": ") + "rule " + r.name + ": " + m);
    };
    switch (r.kind) {
      case RuleDef::Kind::kBody:
        body.push_back({r.regex, r.flags});
        im.body_rules.push_back(i);
        break;
      case RuleDef::Kind::kRaw:
        raw.push_back({r.regex, r.flags});
        im.raw_rules.push_back(i);
        break;
      case RuleDef::Kind::kUri:
        uri.push_back({r.regex, r.flags});
        im.uri_rules.push_back(i);
        break;
      case RuleDef::Kind::kHeader: {
        auto& slot = hdr[mail::to_lower(r.target)];
        slot.first.push_back({r.regex, r.flags});
        slot.second.push_back(i);
        break;
      }
      case RuleDef::Kind::kExists: im.exists_rules.push_back(i); break;
      case RuleDef::Kind::kCheck: {
        const CheckFn* fn = nullptr;
        for (const auto& [n, f] : checks()) {
          if (n == r.target) fn = &f;
        }
        const Bucket* bucket = nullptr;
        for (const Bucket& b : kBuckets) {
          if (r.target == b.name) bucket = &b;
        }
        if (fn) {
          im.check_rules.push_back({i, fn});
        } else if (bucket) {
          im.bucket_rules.push_back({i, bucket});
        } else {
          return where("no builtin check named " + r.target);
        }
        break;
      }
      case RuleDef::Kind::kMeta: {
        auto m = MetaExpr::parse(r.regex, names);
        if (!m) return where(m.error().message());
        metas.push_back({i, std::move(*m)});
        break;
      }
    }
  }
  // Metas in dependency order; a cycle is an error.
  std::vector<int> state(settings.rules.size(), 0);  // 0 new, 1 visiting, 2 done
  std::map<uint32_t, size_t> meta_at;
  for (size_t k = 0; k < metas.size(); ++k) meta_at[metas[k].first] = k;
  std::function<base::Status(uint32_t)> visit = [&](uint32_t i) -> base::Status {
    if (state[i] == 2 || !meta_at.count(i)) return {};
    if (state[i] == 1) return Error::config("rule " + settings.rules[i].name + ": meta rules form a cycle");
    state[i] = 1;
    for (size_t d : metas[meta_at[i]].second.deps()) {
      if (auto st = visit(static_cast<uint32_t>(d)); !st) return st;
    }
    state[i] = 2;
    im.metas.push_back(metas[meta_at[i]]);
    return {};
  };
  for (auto& [i, m] : metas) {
    if (auto st = visit(i); !st) return st.error();
  }
  auto compile = [&](std::vector<RegexSet::Pattern> p, bool utf8,
                     std::shared_ptr<const RegexSet>& out,
                     const std::vector<uint32_t>& rule_of) -> base::Status {
    RegexOptions o = settings.regex;
    o.utf8 = utf8;
    auto set = RegexSet::compile(p, o);
    if (!set) {
      // Name the rule: each pattern alone.
      for (size_t k = 0; k < p.size(); ++k) {
        auto one = RegexSet::compile({p[k]}, {.engine = RegexEngine::kPcre2, .utf8 = utf8});
        if (one) continue;
        const RuleDef& r = settings.rules[rule_of[k]];
        return Error::config((r.origin.empty() ? "" : r.origin + ": ") + "rule " + r.name + ": " +
                             one.error().message());
      }
      return set.error();
    }
    out = *set;
    return {};
  };
  if (auto st = compile(body, true, im.body, im.body_rules); !st) return st.error();
  if (auto st = compile(raw, false, im.raw, im.raw_rules); !st) return st.error();
  if (auto st = compile(uri, true, im.uri, im.uri_rules); !st) return st.error();
  for (auto& [target, pr] : hdr) {
    Impl::HeaderSet hs;
    hs.target = target;
    hs.rules = pr.second;
    if (auto st = compile(pr.first, true, hs.set, hs.rules); !st) return st.error();
    im.headers.push_back(std::move(hs));
  }
  auto psl = settings.psl_path.empty() ? auth::PublicSuffixList::shared()
                                       : auth::PublicSuffixList::shared(settings.psl_path);
  if (psl) im.psl = *psl;  // without it, registrable domains are the last two labels
  for (std::string& d : settings.protected_domains) d = mail::to_lower(d);
  if (im.psl) {
    auto h = HomographChecker::create(settings.protected_domains, im.psl);
    if (!h) return h.error();
    im.homographs = std::make_unique<HomographChecker>(std::move(*h));
  }
  e->settings_ = std::move(settings);
  return std::shared_ptr<const Engine>(std::move(e));
}

Engine::Scratch::Scratch(const Engine& e) {
  for (const RegexSet* s : e.impl_->all_sets()) sets_.push_back(std::make_unique<RegexSet::Scratch>(*s));
}
Engine::Scratch::~Scratch() = default;

base::Result<Verdict> Engine::score(std::string message, const ScoreInput& in, Scratch& s) const {
  auto a = analyze(std::move(message), analyze_options());
  if (!a) return a.error();
  return score(*a, in, s);
}

Verdict Engine::score(const Analysis& a, const ScoreInput& in, Scratch& s) const {
  const Impl& im = *impl_;
  const auto& rules = settings_.rules;
  std::vector<uint8_t> fired(rules.size(), 0);
  std::vector<std::string> details(rules.size());
  std::vector<uint8_t> hits;
  auto run = [&](const RegexSet& set, RegexSet::Scratch& sc, std::string_view text,
                 const std::vector<uint32_t>& map) {
    hits.assign(set.size(), 0);
    set.scan_into(text, sc, hits);
    for (size_t k = 0; k < map.size(); ++k) {
      if (hits[k]) fired[map[k]] = 1;
    }
  };
  run(*im.body, *s.sets_[0], a.body, im.body_rules);
  run(*im.raw, *s.sets_[1], a.raw, im.raw_rules);
  for (const Url& u : a.urls) run(*im.uri, *s.sets_[2], u.url, im.uri_rules);
  for (size_t h = 0; h < im.headers.size(); ++h) {
    const Impl::HeaderSet& hs = im.headers[h];
    RegexSet::Scratch& sc = *s.sets_[3 + h];
    std::vector<uint8_t> matched(hs.set->size(), 0);
    bool any_value = false;
    auto scan = [&](std::string_view v) {
      any_value = true;
      hits.assign(hs.set->size(), 0);
      hs.set->scan_into(v, sc, hits);
      for (size_t k = 0; k < hits.size(); ++k) matched[k] |= hits[k];
    };
    if (hs.target == "all") {
      std::string all;
      for (const HeaderValue& v : a.headers) all += v.name + ": " + v.decoded + "\n";
      scan(all);
    } else {
      std::string name = hs.target;
      std::string part;
      if (size_t colon = name.find(':'); colon != std::string::npos) {
        part = name.substr(colon + 1);
        name.resize(colon);
      }
      for (const HeaderValue& v : a.headers) {
        if (v.name != name) continue;
        if (part.empty()) {
          scan(v.decoded);
          continue;
        }
        for (const mail::Address& ad : mail::parse_address_list(v.raw).flatten()) {
          scan(part == "name" ? ad.name.value_or("") : ad.address.value_or(""));
        }
      }
    }
    (void)any_value;
    for (size_t k = 0; k < hs.rules.size(); ++k) {
      bool m = matched[k] != 0;
      fired[hs.rules[k]] = rules[hs.rules[k]].negate ? !m : m;
    }
  }
  for (uint32_t i : im.exists_rules) {
    fired[i] = a.first(mail::to_lower(rules[i].target)) != nullptr;
  }
  double bayes = -1;
  if (settings_.bayes && in.model) bayes = bayes_probability(*in.model, tokens(a), settings_.bayes_options);
  // Homographs: the link hosts, the From and Reply-To domains, each name once.
  std::vector<HomographFinding> found;
  if (im.homographs) {
    std::set<std::string> domains = {a.from_domain, a.reply_to_domain};
    for (const Url& u : a.urls) domains.insert(u.host);
    for (const std::string& d : domains) {
      if (d.empty() || is_ip_literal(d)) continue;
      for (HomographFinding& f : im.homographs->check(d)) found.push_back(std::move(f));
    }
  }
  CheckContext ctx{a, in, settings_, im.psl, bayes, &found};
  for (const auto& [i, fn] : im.check_rules) {
    std::string d;
    if ((*fn)(ctx, &d)) {
      fired[i] = 1;
      details[i] = std::move(d);
    }
  }
  for (const auto& [i, b] : im.bucket_rules) {
    if (bayes >= b->lo && bayes < b->hi) {
      fired[i] = 1;
      char buf[48];
      std::snprintf(buf, sizeof buf, "spam probability %.4f", bayes);
      details[i] = buf;
    }
  }
  for (const auto& [i, m] : im.metas) fired[i] = m.eval(fired) != 0;
  Verdict v;
  v.bayes = bayes;
  if (bayes >= 0 && in.explain_tokens > 0) {
    v.bayes_tokens = strongest_tokens(*in.model, a, in.explain_tokens, settings_.bayes_options);
  }
  for (size_t i = 0; i < rules.size(); ++i) {
    if (!fired[i] || rules[i].name.rfind("__", 0) == 0) continue;
    v.hits.push_back({rules[i].name, rules[i].score, details[i]});
  }
  for (const Hit& h : in.extra) v.hits.push_back(h);
  for (const Hit& h : v.hits) v.score += h.score;
  std::stable_sort(v.hits.begin(), v.hits.end(),
                   [](const Hit& x, const Hit& y) { return std::fabs(x.score) > std::fabs(y.score); });
  const Thresholds& t = settings_.thresholds;
  v.spam = v.score >= t.junk;
  v.action = v.score >= t.reject ? Action::kReject
             : v.spam            ? Action::kJunk
             : v.score >= t.add_header ? Action::kAddHeader
                                       : Action::kNone;
  return v;
}

std::string spam_headers(const Verdict& v, const Thresholds& t) {
  std::string out;
  if (v.spam) out += "X-Spam-Flag: YES\r\n";
  out += "X-Spam-Score: " + format_score(v.score) + "\r\n";
  int stars = static_cast<int>(std::floor(std::max(0.0, v.score)));
  out += "X-Spam-Level: " + std::string(static_cast<size_t>(std::min(stars, 50)), '*') + "\r\n";
  std::string status = std::string(v.spam ? "Yes" : "No") + ", score=" + format_score(v.score) +
                       " required=" + format_score(t.junk) + " tests=";
  if (v.hits.empty()) status += "none";
  // Folded at rule boundaries so no line exceeds 78 characters (RFC 5322 2.1.1).
  size_t line = std::string("X-Spam-Status: ").size() + status.size();
  for (size_t i = 0; i < v.hits.size(); ++i) {
    std::string item = v.hits[i].name + "=" + format_score(v.hits[i].score) +
                       (i + 1 < v.hits.size() ? "," : "");
    if (line + item.size() > 76 && i > 0) {
      status += "\r\n\t";
      line = 1;
    }
    status += item;
    line += item.size();
  }
  status += line + 16 > 76 ? "\r\n\tversion=postern" : " version=postern";
  out += "X-Spam-Status: " + status + "\r\n";
  return out;
}

std::string strip_spam_headers(std::string_view m) {
  std::string out;
  out.reserve(m.size());
  size_t i = 0;
  bool dropping = false;
  while (i < m.size()) {
    size_t nl = m.find('\n', i);
    size_t end = nl == std::string_view::npos ? m.size() : nl + 1;
    std::string_view line = m.substr(i, end - i);
    if (line == "\r\n" || line == "\n") {
      out.append(m.substr(i));  // the body, untouched
      return out;
    }
    bool cont = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    if (!cont) dropping = line.size() > 7 && mail::iequals(line.substr(0, 7), "x-spam-");
    if (!dropping) out.append(line);
    i = end;
  }
  return out;
}

}  // namespace postern::spam
