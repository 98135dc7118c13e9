// SASL server side for SMTP AUTH (RFC 4954) and later IMAP AUTHENTICATE: PLAIN
// (RFC 4616), LOGIN (draft-murchison-sasl-login) and SCRAM-SHA-256 (RFC 5802, RFC 7677).
// A state machine over decoded client responses; the protocol layer does the base64 and
// the 334/235/535 replies. Credentials come from callbacks, so this never touches the
// store (the server passes store lookups in).
//
//   sasl::Backend b{.check_password = ..., .scram = ...};
//   sasl::Exchange x(sasl::Mechanism::kScramSha256, b);
//   sasl::Step s = x.start(initial_response);       // nullopt when the client sent none
//   while (s.kind == sasl::Step::kChallenge) s = x.next(read_client_response());
//   if (s.kind == sasl::Step::kSuccess) login_as(s.user);
//
// Callbacks may block (password hashing is slow on purpose): run an Exchange on a worker
// thread, not on an event loop.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace postern::auth::sasl {

enum class Mechanism { kPlain, kLogin, kScramSha256 };
// "PLAIN", "LOGIN", "SCRAM-SHA-256" (case-insensitive); nullopt for others.
std::optional<Mechanism> parse_mechanism(std::string_view name);
std::string_view mechanism_name(Mechanism m);

struct ScramCredentials {
  int iterations = 0;
  std::string salt;        // raw
  std::string stored_key;  // raw 32 bytes
  std::string server_key;  // raw 32 bytes
};

struct Backend {
  // The password is right for this user (account password or an app password):
  // the canonical login name (lower-cased address) and how it matched ("account",
  // "app-password NAME"); nullopt when it is wrong or the user does not exist or is
  // disabled. An Error means "could not check" (store down): the server answers 454 4.7.0.
  struct Match {
    std::string user;
    std::string via;
  };
  std::function<base::Result<std::optional<Match>>(std::string_view user,
                                                   std::string_view password)>
      check_password;
  // The user's SCRAM-SHA-256 verifier; nullopt when the user is unknown, disabled or has
  // none (an imported hash). The exchange then runs on to a failure with a made-up salt,
  // so a client cannot tell unknown users from wrong passwords.
  std::function<base::Result<std::optional<ScramCredentials>>(std::string_view user)> scram;
  // For tests (RFC 7677 vector): the server nonce part; empty: 24 random bytes, base64.
  std::function<std::string()> server_nonce;
};

struct Step {
  enum Kind {
    kChallenge,  // send `data` (raw bytes; the caller base64-encodes) and wait for a reply
    kSuccess,    // authenticated as `user` (`via` says how)
    kFailure,    // wrong credentials: 535 5.7.8
    kMalformed,  // not this mechanism's syntax, or a client "*" cancel: 501 5.5.2
    kError,      // the backend failed: 454 4.7.0; `detail` says why
  };
  Kind kind = kFailure;
  std::string data;
  std::string user;
  std::string via;
  std::string detail;  // for the log, never for the client
};

class Exchange {
 public:
  Exchange(Mechanism m, Backend backend);
  // The client's initial response, decoded (RFC 4954 4: "=" is an empty one); nullopt
  // when none was sent.
  Step start(std::optional<std::string_view> initial);
  // The client's next response, decoded. "*" (cancel) is detected by the caller before
  // decoding and reported as kMalformed without calling next().
  Step next(std::string_view response);

  // (implementation state)
  struct State;
  ~Exchange();
  Exchange(Exchange&&) noexcept;
  Exchange& operator=(Exchange&&) noexcept;

 private:
  std::unique_ptr<State> s_;
};

}  // namespace postern::auth::sasl
