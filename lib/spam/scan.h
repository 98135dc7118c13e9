// One message through the whole filter, as spam-score and the in-server stage run it:
// the analysis, the classifier's model for the recipient, DNS blocklists (the client
// address and the link domains), the LLM classifier when enabled, then the engine.
// Blocklists and the LLM never fail a scan: a timeout or an error is logged and the
// message is scored without them.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "base/result.h"
#include "dns/dns.h"
#include "spam/engine.h"
#include "spam/filter.h"
#include "spam/models.h"

namespace postern::spam {

struct ScanContext {
  dns::Resolver* resolver = nullptr;  // for DNSBL and the LLM; nullptr: neither
  Models* models = nullptr;           // the classifier's models; nullptr: none
  store::Store* store = nullptr;      // where the models are (needed with models)
  std::string rcpt;                   // the recipient ("" = none)
  std::string client_ip;              // the SMTP client ("" = unknown)
  // The recipient's own model when it has one (spam-score --rcpt); the in-server stage
  // scores with the global model and leaves each recipient's to delivery.
  bool recipient_model = true;
  size_t explain_tokens = 0;  // Verdict::bayes_tokens: this many of the strongest (--explain)
};

base::Result<Verdict> scan(const Engine& engine, std::string message, const ScanContext& ctx,
                           Engine::Scratch& scratch);

}  // namespace postern::spam
