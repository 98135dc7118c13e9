// The filter pipeline of smtp-listen: stages configured per SMTP step (connect, HELO,
// MAIL, RCPT, DATA), run in order. A stage is builtin (in-process: auth-check, spam-score,
// dnsbl, greylist; see known_builtin) or an
// external command under the message contract of DESIGN.md:
//   - at DATA the message is on stdin and the filter writes the (possibly changed)
//     message to stdout; at other steps stdin is empty and stdout is ignored;
//   - the envelope is in the environment: POSTERN_STAGE, POSTERN_CLIENT_IP,
//     POSTERN_HELO, POSTERN_SENDER, POSTERN_RECIPIENT (RCPT), POSTERN_RECIPIENTS (one per
//     line), POSTERN_QUEUE_ID, POSTERN_AUTH_USER, POSTERN_LISTENER;
//   - exit 0 accepts; exit 1 (stages with check) rejects: 550 5.7.1 and the stage's
//     one-line reason (the last line it wrote to stderr); 75, any other status, a signal or
//     the timeout is a failure: 451 4.7.1, or accept when the stage says on_error: accept.
// Stages block (processes, DNS): the server runs them on worker threads.
//
//   FilterInput in{.at = FilterAt::kData, .message = &msg, ...};
//   Verdict v = run_stage(stage, in, ctx);
//   if (v.kind == Verdict::kReject) reply(v.reply);
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/psl.h"
#include "base/result.h"
#include "dns/dns.h"
#include "smtp/server.h"
#include "spam/engine.h"

namespace postern::smtp {

struct FilterInput {
  FilterAt at = FilterAt::kData;
  std::string client_ip;
  std::string helo;
  std::string sender;  // MAIL FROM ("" null)
  std::string recipient;  // the RCPT being checked (kRcpt)
  std::vector<std::string> recipients;
  std::string queue_id;
  std::string auth_user;
  std::string listener;
  std::string* message = nullptr;  // kData: read and replaced by the stage
};

struct Verdict {
  enum Kind { kAccept, kReject, kTempFail, kJunk } kind = kAccept;
  std::string reply;   // the SMTP reply for kReject/kTempFail, without CRLF
  std::string detail;  // for the log
};

// What a worker thread keeps for builtin stages (created on first use).
struct FilterContext {
  const Settings* settings = nullptr;
  std::unique_ptr<dns::Resolver> resolver;
  const auth::PublicSuffixList* psl = nullptr;
  store::Store* store = nullptr;  // the worker's, for stages that need_store()
  // Regex scratch space for the engine it was made for (held: a reload replaces engines).
  std::shared_ptr<const spam::Engine> spam_scratch_of;
  std::unique_ptr<spam::Engine::Scratch> spam_scratch;
};

Verdict run_stage(const FilterStage& stage, FilterInput& in, FilterContext& ctx);

// The builtin names run_stage knows: auth-check, spam-score, dnsbl, greylist.
bool known_builtin(std::string_view name);
// Whether the stage reads the store (the caller sets FilterContext::store first).
bool needs_store(const FilterStage& stage);
// Whether a stage of `s` is the spam filter's (spam-score, dnsbl): Settings::spam is needed.
bool uses_spam_filter(const Settings& s);
// Makes Settings::spam_engine and spam_models from Settings::spam, protecting the store's
// local domains too (Server::prepare and every reload call it). Error::config for rules
// that do not compile.
base::Status prepare_spam(Settings& s, store::Store& store);

}  // namespace postern::smtp
