// scan(): analysis, model, DNSBL, LLM, engine.
#include "spam/scan.h"

#include <cctype>
#include <optional>

#include "base/log.h"
#include "spam/dnsbl.h"
#include "spam/llm.h"
#include "spam/pyzor.h"

namespace postern::spam {

namespace {

// PYZOR_CHECK from the first server that answers; nothing when none does.
std::optional<Hit> pyzor_hit(const Settings& s, std::string_view message) {
  pyzor::Request req{.op = pyzor::Op::kCheck, .digest = pyzor::digest(message)};
  for (const std::string& text : s.pyzor_servers) {
    auto server = pyzor::parse_server(text);
    if (!server) continue;  // refused by the config already
    auto r = pyzor::exchange(*server, req, {.timeout_ms = s.pyzor_timeout_ms, .retries = 0});
    if (!r) {
      base::log_warn("pyzor", {{"server", text}, {"error", r.error().message()}});
      continue;
    }
    if (r->code != 200) {
      base::log_warn("pyzor", {{"server", text}, {"error", std::to_string(r->code) + " " + r->diag}});
      continue;
    }
    int64_t count = r->count.value_or(0), wl = r->wl_count.value_or(0);
    if (count >= s.pyzor_min_count && wl < s.pyzor_max_whitelist) {
      return Hit{"PYZOR_CHECK", s.pyzor_score,
                 "reported " + std::to_string(count) + " times to " + text};
    }
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

base::Result<Verdict> scan(const Engine& engine, std::string message, const ScanContext& ctx,
                           Engine::Scratch& scratch) {
  const Settings& s = engine.settings();
  std::optional<Hit> pyzor;
  if (!s.pyzor_servers.empty()) pyzor = pyzor_hit(s, message);
  auto a = analyze(std::move(message), engine.analyze_options());
  if (!a) return a.error();
  ScoreInput in;
  if (pyzor) in.extra.push_back(std::move(*pyzor));
  in.rcpt = ctx.rcpt;
  in.explain_tokens = ctx.explain_tokens;
  ModelPtr model;  // held for the scan: a refresh may replace the cached one meanwhile
  if (ctx.models && ctx.store && s.bayes) {
    auto m = ctx.models->for_rcpt(*ctx.store, ctx.recipient_model ? ctx.rcpt : std::string());
    if (!m) return m.error();
    model = *m;
    in.model = model.get();
  }
  if (ctx.resolver && !s.dnsbl.empty()) {
    std::vector<std::string> ips, domains;
    if (!ctx.client_ip.empty()) ips.push_back(ctx.client_ip);
    for (const Url& u : a->urls) domains.push_back(u.host);
    DnsblResult r = dnsbl_check_sync(*ctx.resolver, s.dnsbl, ips, domains, s.dnsbl_options);
    // Each rule once, at its highest score (a listing reached through two links of one
    // message counts once).
    for (const DnsblHit& h : r.hits) {
      auto it = std::find_if(in.extra.begin(), in.extra.end(),
                             [&](const Hit& x) { return x.name == h.rule; });
      if (it == in.extra.end()) {
        in.extra.push_back({h.rule, h.score, h.item + " listed (" + h.answer + ")"});
      } else if (h.score > it->score) {
        it->score = h.score;
      }
    }
    for (const std::string& e : r.errors) base::log_warn("dnsbl", {{"error", e}});
  }
  if (ctx.resolver && s.llm.enabled) {
    LlmInput li;
    li.from = a->from_name.empty() ? a->from_address : a->from_name + " <" + a->from_address + ">";
    li.to = ctx.rcpt;
    li.subject = a->subject;
    li.text = a->body;
    for (const Url& u : a->urls) li.urls.push_back(u.url);
    auto v = llm_classify(*ctx.resolver, s.llm, li);
    if (v) {
      auto score = s.llm_scores.find(v->category);
      if (score != s.llm_scores.end() && v->confidence >= s.llm_min_confidence) {
        std::string name = "LLM_" + v->category;
        for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        char conf[16];
        std::snprintf(conf, sizeof conf, "%.2f", v->confidence);
        in.extra.push_back({name, score->second * v->confidence,
                            std::string("confidence ") + conf +
                                (v->reason.empty() ? "" : ": " + v->reason)});
      }
    } else {
      base::log_warn("llm", {{"error", v.error().message()}});
    }
  }
  return engine.score(*a, in, scratch);
}

}  // namespace postern::spam
