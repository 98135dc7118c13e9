// The filter pipeline of smtp-listen: stages configured per SMTP step (connect, HELO,
// MAIL, RCPT, DATA), run in order. A stage is builtin (in-process: "auth-check") or an
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
};

Verdict run_stage(const FilterStage& stage, FilterInput& in, FilterContext& ctx);

// The builtin names run_stage knows ("auth-check").
bool known_builtin(std::string_view name);

}  // namespace postern::smtp
