// Password hashes and SCRAM-SHA-256 verifiers for accounts and app passwords.
//
// Hashes are crypt(3) strings from libxcrypt: new passwords get yescrypt ("$y$..."); any
// hash libxcrypt verifies is accepted as it is on import — SHA-512-crypt ("$6$"),
// SHA-256-crypt ("$5$"), bcrypt ("$2b$"/"$2y$"), with or without Dovecot's "{CRYPT}",
// "{SHA512-CRYPT}", "{BLF-CRYPT}", "{SHA256-CRYPT}" scheme prefixes, and /etc/shadow
// entries. Plain-text schemes ({PLAIN}, {CLEAR}) and unsalted digests are refused.
//
// Beside the hash, setting a password stores a SCRAM-SHA-256 verifier (RFC 5802 and
// RFC 7677): salt, iteration count, StoredKey = H(HMAC(SaltedPassword, "Client Key")),
// ServerKey = HMAC(SaltedPassword, "Server Key"), so SMTP and IMAP can run SCRAM without
// the clear password. Serialized as
//   SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
// (the layout Dovecot and PostgreSQL use). An imported hash has no verifier until the
// password is next set.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace postern::store {

struct ScramVerifier {
  int iterations = 0;
  std::string salt;        // raw bytes
  std::string stored_key;  // raw 32 bytes
  std::string server_key;  // raw 32 bytes

  std::string serialize() const;
  static base::Result<ScramVerifier> parse(std::string_view text);
};

struct Credentials {
  std::string hash;                   // crypt(3) string without a scheme prefix
  std::optional<ScramVerifier> scram;  // none for imported hashes
};

// Minimum SCRAM iteration count we generate (RFC 7677 asks for at least 4096).
inline constexpr int kScramIterations = 10000;

// A fresh yescrypt hash and SCRAM verifier for `password` (random salts from OpenSSL).
// Error::bad_data for an empty password or one with NUL bytes.
base::Result<Credentials> make_credentials(std::string_view password);

// Accepts an existing hash (see above): strips a Dovecot scheme prefix, checks that
// libxcrypt knows the method, returns it without a SCRAM verifier. Error::bad_data with
// a clear message otherwise ("{PLAIN} is a clear-text password; set it with passwd").
base::Result<Credentials> import_hash(std::string_view hash);

// Constant-time check of `password` against a crypt(3) hash.
bool verify_password(std::string_view password, const std::string& hash);

// The method of a crypt(3) hash, for display: "yescrypt", "bcrypt", "sha512-crypt",
// "sha256-crypt", "md5-crypt", ... ("none" for an empty hash). Never shows the hash.
std::string_view hash_scheme(std::string_view hash);

// SCRAM-SHA-256 helpers for the server side of RFC 5802 (used by smtp-listen/imap).
ScramVerifier scram_verifier(std::string_view password, std::string_view salt, int iterations);
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string sha256(std::string_view data);

}  // namespace postern::store
