// SASL server mechanisms: PLAIN, LOGIN, SCRAM-SHA-256 (see sasl.h).
#include "auth/sasl.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <vector>

#include "auth/dkim.h"  // base64_encode / base64_decode
#include "mail/charset.h"

namespace postern::auth::sasl {

namespace {

// Iteration count of a made-up SCRAM verifier for an unknown user: the same as the store
// uses for new verifiers (store::kScramIterations; lib/auth does not include lib/store),
// so a client cannot tell the two apart.
constexpr int kFakeIterations = 10000;
// Salt length of the store's verifiers (make_credentials: 16 random bytes).
constexpr size_t kFakeSaltBytes = 16;

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       reinterpret_cast<unsigned char*>(out.data()), &len);
  out.resize(len);
  return out;
}

std::string sha256(std::string_view data) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::optional<std::string> random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), int(n)) != 1) return std::nullopt;
  return out;
}

// A random key chosen once per process; fake SCRAM verifiers are derived from it, so an
// unknown user gets the same salt on every attempt (as a real one would) but a different
// one after a restart or on another server.
const std::optional<std::string>& process_key() {
  static const std::optional<std::string> key = random_bytes(32);
  return key;
}

Step challenge(std::string data) {
  Step s;
  s.kind = Step::kChallenge;
  s.data = std::move(data);
  return s;
}

Step terminal(Step::Kind kind, std::string detail) {
  Step s;
  s.kind = kind;
  s.detail = std::move(detail);
  return s;
}

// RFC 5802 5.1: saslname = 1*(value-safe-char / "=2C" / "=3D"); value-safe-char is any
// UTF8-char except NUL, "=" and ",".
std::optional<std::string> decode_saslname(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '=') {
      std::string_view esc = s.substr(i + 1, 2);
      if (esc == "2C")
        out += ',';
      else if (esc == "3D")
        out += '=';
      else
        return std::nullopt;
      i += 2;
    } else if (c == '\0' || c == ',') {
      return std::nullopt;
    } else {
      out += c;
    }
  }
  if (!mail::is_valid_utf8(out)) return std::nullopt;
  return out;
}

// RFC 5802 7: printable = %x21-2B / %x2D-7E (no comma).
bool printable_nonce(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

// RFC 5802 7: attr-val = ALPHA "=" value (extensions and the known attributes).
bool attr_val(std::string_view s, char attr) {
  return s.size() >= 2 && s[0] == attr && s[1] == '=';
}
bool any_attr_val(std::string_view s) {
  return s.size() >= 2 && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) &&
         s[1] == '=';
}

std::vector<std::string_view> split_commas(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
}

}  // namespace

std::optional<Mechanism> parse_mechanism(std::string_view name) {
  if (iequals(name, "PLAIN")) return Mechanism::kPlain;
  if (iequals(name, "LOGIN")) return Mechanism::kLogin;
  if (iequals(name, "SCRAM-SHA-256")) return Mechanism::kScramSha256;
  return std::nullopt;
}

std::string_view mechanism_name(Mechanism m) {
  switch (m) {
    case Mechanism::kPlain:
      return "PLAIN";
    case Mechanism::kLogin:
      return "LOGIN";
    case Mechanism::kScramSha256:
      return "SCRAM-SHA-256";
  }
  return "PLAIN";
}

struct Exchange::State {
  enum Stage {
    kStart,
    kPlainResponse,  // PLAIN: waiting for the message after an empty challenge
    kLoginUser,      // LOGIN: "Username:" sent
    kLoginPassword,  // LOGIN: "Password:" sent
    kScramClientFirst,
    kScramClientFinal,
    kScramDone,  // server-final sent, waiting for the empty response
    kFinished,
  };

  Mechanism mechanism;
  Backend backend;
  Stage stage = kStart;
  std::string login_user;
  // SCRAM-SHA-256
  std::string gs2_header;
  std::string client_first_bare;
  std::string server_first;
  std::string nonce;
  std::string user;
  ScramCredentials creds;
  bool unknown_user = false;

  Step finish(Step s) {
    if (s.kind != Step::kChallenge) stage = kFinished;
    return s;
  }
  Step malformed(std::string why) { return finish(terminal(Step::kMalformed, std::move(why))); }
  Step failure(std::string why) { return finish(terminal(Step::kFailure, std::move(why))); }
  Step error(std::string why) { return finish(terminal(Step::kError, std::move(why))); }

  Step check_password(std::string_view user_name, std::string_view password);
  Step plain(std::string_view message);
  Step scram_first(std::string_view message);
  Step scram_final(std::string_view message);
};

Step Exchange::State::check_password(std::string_view user_name, std::string_view password) {
  if (!backend.check_password) return error("no password backend");
  auto r = backend.check_password(user_name, password);
  if (!r) return error(r.error().message());
  if (!*r) return failure("wrong password or unknown user \"" + std::string(user_name) + "\"");
  Step s;
  s.kind = Step::kSuccess;
  s.user = (*r)->user;
  s.via = (*r)->via;
  return finish(std::move(s));
}

// RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd.
Step Exchange::State::plain(std::string_view message) {
  const size_t nul1 = message.find('\0');
  const size_t nul2 = nul1 == std::string_view::npos ? nul1 : message.find('\0', nul1 + 1);
  if (nul2 == std::string_view::npos) return malformed("PLAIN message without two NULs");
  if (message.find('\0', nul2 + 1) != std::string_view::npos) {
    return malformed("PLAIN message with a NUL in the password");
  }
  std::string_view authzid = message.substr(0, nul1);
  std::string_view authcid = message.substr(nul1 + 1, nul2 - nul1 - 1);
  std::string_view passwd = message.substr(nul2 + 1);
  // RFC 4616 2: authcid and passwd are 1*SAFE, UTF-8.
  if (authcid.empty()) return malformed("PLAIN message with an empty authcid");
  if (passwd.empty()) return malformed("PLAIN message with an empty password");
  if (!mail::is_valid_utf8(message)) return malformed("PLAIN message is not UTF-8");
  // RFC 4616 2: we support no proxy authorization, so an authzid other than the
  // authcid itself fails (login names are addresses: compared case-insensitively).
  if (!authzid.empty() && !iequals(authzid, authcid)) {
    return failure("authzid \"" + std::string(authzid) + "\" differs from authcid \"" +
                   std::string(authcid) + "\"");
  }
  return check_password(authcid, passwd);
}

// RFC 5802 7: client-first-message = gs2-header client-first-message-bare
//   gs2-header = gs2-cbind-flag "," [ authzid ] ","
//   client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
Step Exchange::State::scram_first(std::string_view message) {
  if (message.empty()) return malformed("empty SCRAM client-first message");
  // RFC 5802 6 / 7: "p=" asks for channel binding, which needs SCRAM-SHA-256-PLUS; we do
  // not offer it. "y" (the client could, but thinks we cannot) and "n" are fine.
  if (message[0] == 'p') return malformed("channel binding requested; -PLUS is not offered");
  if ((message[0] != 'n' && message[0] != 'y') || message.size() < 2 || message[1] != ',') {
    return malformed("SCRAM gs2 header must start with \"n,\" or \"y,\"");
  }
  size_t comma = message.find(',', 2);
  if (comma == std::string_view::npos) return malformed("SCRAM gs2 header not terminated");
  std::string_view authz = message.substr(2, comma - 2);
  std::optional<std::string> authzid;
  if (!authz.empty()) {
    if (!attr_val(authz, 'a')) return malformed("SCRAM gs2 header with a malformed authzid");
    authzid = decode_saslname(authz.substr(2));
    if (!authzid) return malformed("SCRAM authzid is not a valid saslname");
  }
  gs2_header = std::string(message.substr(0, comma + 1));
  std::string_view bare = message.substr(comma + 1);
  client_first_bare = std::string(bare);

  std::vector<std::string_view> attrs = split_commas(bare);
  // RFC 5802 5.1 m: a mandatory extension we do not know: authentication must fail.
  if (attr_val(attrs[0], 'm')) return malformed("SCRAM mandatory extension (m=) not supported");
  if (attrs.size() < 2 || !attr_val(attrs[0], 'n') || !attr_val(attrs[1], 'r')) {
    return malformed("SCRAM client-first message must be n=user,r=nonce");
  }
  for (size_t i = 2; i < attrs.size(); ++i) {
    if (!any_attr_val(attrs[i])) return malformed("SCRAM client-first has a malformed extension");
  }
  auto name = decode_saslname(attrs[0].substr(2));
  if (!name) return malformed("SCRAM user name is not a valid saslname");
  std::string_view client_nonce = attrs[1].substr(2);
  if (!printable_nonce(client_nonce)) return malformed("SCRAM client nonce is not printable");
  user = std::move(*name);
  // No proxy authorization: an authzid must name the user itself.
  if (authzid && !iequals(*authzid, user)) {
    return failure("authzid \"" + *authzid + "\" differs from user \"" + user + "\"");
  }

  if (!backend.scram) return error("no SCRAM backend");
  auto found = backend.scram(user);
  if (!found) return error(found.error().message());
  if (*found) {
    creds = std::move(**found);
    if (creds.iterations <= 0 || creds.salt.empty() ||
        creds.stored_key.size() != SHA256_DIGEST_LENGTH ||
        creds.server_key.size() != SHA256_DIGEST_LENGTH) {
      return error("malformed SCRAM verifier for \"" + user + "\"");
    }
  } else {
    // sasl.h: an unknown user runs on with a made-up verifier and fails at the end. The
    // salt is a function of the name, so it is stable across attempts like a real one.
    const auto& key = process_key();
    if (!key) return error("RAND_bytes failed");
    unknown_user = true;
    creds.iterations = kFakeIterations;
    creds.salt = hmac_sha256(*key, "salt\n" + user).substr(0, kFakeSaltBytes);
    creds.stored_key = hmac_sha256(*key, "stored-key\n" + user);
    creds.server_key = hmac_sha256(*key, "server-key\n" + user);
  }

  std::string server_nonce = backend.server_nonce ? backend.server_nonce() : std::string();
  if (server_nonce.empty()) {
    auto raw = random_bytes(24);
    if (!raw) return error("RAND_bytes failed");
    server_nonce = dkim::base64_encode(*raw);
  }
  if (!printable_nonce(server_nonce)) return error("server nonce is not printable");
  nonce = std::string(client_nonce) + server_nonce;
  // RFC 5802 7: server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count
  server_first = "r=" + nonce + ",s=" + dkim::base64_encode(creds.salt) +
                 ",i=" + std::to_string(creds.iterations);
  stage = kScramClientFinal;
  return challenge(server_first);
}

// RFC 5802 7: client-final-message = client-final-message-without-proof "," proof
//   client-final-message-without-proof = channel-binding "," nonce ["," extensions]
Step Exchange::State::scram_final(std::string_view message) {
  std::vector<std::string_view> attrs = split_commas(message);
  if (attrs.size() < 3 || !attr_val(attrs[0], 'c') || !attr_val(attrs[1], 'r') ||
      !attr_val(attrs.back(), 'p')) {
    return malformed("SCRAM client-final message must be c=...,r=...,p=...");
  }
  for (size_t i = 2; i + 1 < attrs.size(); ++i) {
    if (!any_attr_val(attrs[i])) return malformed("SCRAM client-final has a malformed extension");
  }
  auto cbind = dkim::base64_decode(attrs[0].substr(2));
  if (!cbind) return malformed("SCRAM channel binding is not base64");
  auto proof = dkim::base64_decode(attrs.back().substr(2));
  if (!proof || proof->size() != SHA256_DIGEST_LENGTH) {
    return malformed("SCRAM proof is not 32 bytes of base64");
  }
  // RFC 5802 5.1 c: without channel binding, c= is the base64 of the gs2 header itself.
  if (*cbind != gs2_header) return failure("SCRAM channel binding differs from the gs2 header");
  // RFC 5802 5.1 r: the nonce must be the one the server sent (client + server parts).
  if (attrs[1].substr(2) != nonce) return failure("SCRAM nonce does not match");

  const std::string_view without_proof =
      message.substr(0, message.size() - attrs.back().size() - 1);
  // RFC 5802 3: AuthMessage := client-first-message-bare + "," + server-first-message +
  //   "," + client-final-message-without-proof
  std::string auth_message = client_first_bare;
  auth_message += ',';
  auth_message += server_first;
  auth_message += ',';
  auth_message += without_proof;
  // ClientSignature := HMAC(StoredKey, AuthMessage); ClientKey := ClientProof XOR
  // ClientSignature; the proof is right when H(ClientKey) == StoredKey.
  const std::string client_signature = hmac_sha256(creds.stored_key, auth_message);
  std::string client_key = *proof;
  for (size_t i = 0; i < client_key.size(); ++i) client_key[i] ^= client_signature[i];
  const std::string computed = sha256(client_key);
  OPENSSL_cleanse(client_key.data(), client_key.size());
  const bool match =
      CRYPTO_memcmp(computed.data(), creds.stored_key.data(), SHA256_DIGEST_LENGTH) == 0;
  if (unknown_user) return failure("unknown SCRAM user \"" + user + "\"");
  if (!match) return failure("wrong SCRAM proof for \"" + user + "\"");
  // RFC 5802 3: ServerSignature := HMAC(ServerKey, AuthMessage); server-final "v=".
  const std::string server_signature = hmac_sha256(creds.server_key, auth_message);
  stage = kScramDone;
  return challenge("v=" + dkim::base64_encode(server_signature));
}

Exchange::Exchange(Mechanism m, Backend backend) : s_(std::make_unique<State>()) {
  s_->mechanism = m;
  s_->backend = std::move(backend);
}

Exchange::~Exchange() = default;
Exchange::Exchange(Exchange&&) noexcept = default;
Exchange& Exchange::operator=(Exchange&&) noexcept = default;

Step Exchange::start(std::optional<std::string_view> initial) {
  State& s = *s_;
  if (s.stage != State::kStart) return s.malformed("exchange already started");
  switch (s.mechanism) {
    case Mechanism::kPlain:
      // RFC 4616 2 / RFC 4954 4: without an initial response the server sends an empty
      // challenge and the client answers with the message.
      if (!initial) {
        s.stage = State::kPlainResponse;
        return challenge("");
      }
      return s.plain(*initial);
    case Mechanism::kLogin:
      // draft-murchison-sasl-login: the challenges are the texts "Username:" and
      // "Password:"; a client may send the user name as its initial response.
      if (!initial) {
        s.stage = State::kLoginUser;
        return challenge("Username:");
      }
      s.stage = State::kLoginUser;  // the initial response answers "Username:"
      return next(*initial);
    case Mechanism::kScramSha256:
      // RFC 5802 5: the client speaks first; without an initial response it gets an
      // empty challenge.
      if (!initial) {
        s.stage = State::kScramClientFirst;
        return challenge("");
      }
      return s.scram_first(*initial);
  }
  return s.malformed("unknown mechanism");
}

Step Exchange::next(std::string_view response) {
  State& s = *s_;
  switch (s.stage) {
    case State::kStart:
      return s.malformed("response before start()");
    case State::kPlainResponse:
      return s.plain(response);
    case State::kLoginUser:
      if (response.empty()) return s.malformed("LOGIN with an empty user name");
      if (response.find('\0') != std::string_view::npos) {
        return s.malformed("LOGIN user name with a NUL");
      }
      s.login_user = std::string(response);
      s.stage = State::kLoginPassword;
      return challenge("Password:");
    case State::kLoginPassword:
      if (response.find('\0') != std::string_view::npos) {
        return s.malformed("LOGIN password with a NUL");
      }
      if (response.empty()) return s.failure("LOGIN with an empty password");
      return s.check_password(s.login_user, response);
    case State::kScramClientFirst:
      return s.scram_first(response);
    case State::kScramClientFinal:
      return s.scram_final(response);
    case State::kScramDone: {
      // RFC 5802 5 / RFC 4954 4: after the server-final message the client sends an
      // empty response and the server reports success.
      if (!response.empty()) return s.malformed("non-empty response after SCRAM server-final");
      Step ok;
      ok.kind = Step::kSuccess;
      // Login names are lower-cased addresses (Backend::Match::user).
      ok.user = lower(s.user);
      ok.via = "account";
      return s.finish(std::move(ok));
    }
    case State::kFinished:
      return s.malformed("exchange already finished");
  }
  return s.malformed("bad state");
}

}  // namespace postern::auth::sasl
