// Password hashes (libxcrypt) and SCRAM-SHA-256 verifiers (RFC 5802, RFC 7677).
#include "store/password.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <unicode/usprep.h>
#include <unicode/ustring.h>

#include <array>
#include <cstring>
#include <memory>

namespace postern::store {

using base::Error;
using base::Result;

namespace {

constexpr std::string_view kB64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string b64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kB64[(v >> s) & 63];
  }
  if (size_t rest = in.size() - i; rest > 0) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (rest == 2) v |= uint8_t(in[i + 1]) << 8;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += rest == 2 ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Strict RFC 4648 base64: padded, no whitespace, canonical trailing bits.
std::optional<std::string> b64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (size_t j = 0; j < 4; ++j) {
      char c = in[i + j];
      if (c == '=') {
        if (i + 4 != in.size() || j < 2) return std::nullopt;
        ++pad;
        v <<= 6;
        continue;
      }
      if (pad) return std::nullopt;  // data after '='
      auto p = kB64.find(c);
      if (p == std::string_view::npos) return std::nullopt;
      v = (v << 6) | uint32_t(p);
    }
    if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff))) return std::nullopt;
    out += char(v >> 16);
    if (pad < 2) out += char((v >> 8) & 0xff);
    if (pad < 1) out += char(v & 0xff);
  }
  return out;
}

std::optional<int> parse_positive(std::string_view s) {
  if (s.empty() || s.size() > 9 || s[0] == '0') return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// RFC 4013 SASLprep of a stored string; nullopt when the password is not valid UTF-8
// or contains prohibited or unassigned characters.
std::optional<std::string> saslprep(std::string_view password) {
  UErrorCode status = U_ZERO_ERROR;
  int32_t len16 = 0;
  u_strFromUTF8(nullptr, 0, &len16, password.data(), int32_t(password.size()), &status);
  if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status)) return std::nullopt;
  status = U_ZERO_ERROR;
  std::u16string in(size_t(len16), u'\0');
  u_strFromUTF8(reinterpret_cast<UChar*>(in.data()), len16, nullptr, password.data(),
                int32_t(password.size()), &status);
  if (U_FAILURE(status)) return std::nullopt;
  std::unique_ptr<UStringPrepProfile, void (*)(UStringPrepProfile*)> profile(
      usprep_openByType(USPREP_RFC4013_SASLPREP, &status), usprep_close);
  if (U_FAILURE(status) || !profile) return std::nullopt;
  std::u16string out(in.size() * 3 + 16, u'\0');
  UParseError perr;
  int32_t n = usprep_prepare(profile.get(), reinterpret_cast<const UChar*>(in.data()),
                             int32_t(in.size()), reinterpret_cast<UChar*>(out.data()),
                             int32_t(out.size()), USPREP_DEFAULT, &perr, &status);
  if (status == U_BUFFER_OVERFLOW_ERROR) {
    status = U_ZERO_ERROR;
    out.assign(size_t(n), u'\0');
    n = usprep_prepare(profile.get(), reinterpret_cast<const UChar*>(in.data()), int32_t(in.size()),
                       reinterpret_cast<UChar*>(out.data()), int32_t(out.size()), USPREP_DEFAULT,
                       &perr, &status);
  }
  if (U_FAILURE(status)) return std::nullopt;
  std::string utf8(size_t(n) * 3 + 4, '\0');
  int32_t len8 = 0;
  u_strToUTF8(utf8.data(), int32_t(utf8.size()), &len8, reinterpret_cast<const UChar*>(out.data()),
              n, &status);
  if (U_FAILURE(status)) return std::nullopt;
  utf8.resize(size_t(len8));
  if (utf8.empty()) return std::nullopt;  // e.g. only "commonly mapped to nothing" chars
  return utf8;
}

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), int(n)) != 1) {
    return {};
  }
  return out;
}

std::string_view trim_hash(std::string_view h) {
  while (!h.empty() &&
         (h.back() == '\n' || h.back() == '\r' || h.back() == ' ' || h.back() == '\t'))
    h.remove_suffix(1);
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
  return h;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
  return out;
}

}  // namespace

std::string sha256(std::string_view data) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       reinterpret_cast<unsigned char*>(out.data()), &len);
  out.resize(len);
  return out;
}

ScramVerifier scram_verifier(std::string_view password, std::string_view salt, int iterations) {
  // RFC 5802 3: SaltedPassword := Hi(Normalize(password), salt, i). When SASLprep refuses
  // the password (prohibited characters, invalid UTF-8) the raw bytes are used, as
  // PostgreSQL does, so such a password still works with clients that skip SASLprep.
  std::optional<std::string> prepped = saslprep(password);
  std::string_view normalized = prepped ? std::string_view(*prepped) : password;
  std::string salted(SHA256_DIGEST_LENGTH, '\0');
  PKCS5_PBKDF2_HMAC(normalized.data(), int(normalized.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()), int(salt.size()),
                    iterations, EVP_sha256(), int(salted.size()),
                    reinterpret_cast<unsigned char*>(salted.data()));
  ScramVerifier v;
  v.iterations = iterations;
  v.salt = std::string(salt);
  v.stored_key = sha256(hmac_sha256(salted, "Client Key"));
  v.server_key = hmac_sha256(salted, "Server Key");
  OPENSSL_cleanse(salted.data(), salted.size());
  return v;
}

std::string ScramVerifier::serialize() const {
  return "SCRAM-SHA-256$" + std::to_string(iterations) + ":" + b64_encode(salt) + "$" +
         b64_encode(stored_key) + ":" + b64_encode(server_key);
}

Result<ScramVerifier> ScramVerifier::parse(std::string_view text) {
  auto bad = [](const std::string& why) {
    return Error::bad_data("SCRAM-SHA-256 verifier: " + why);
  };
  constexpr std::string_view kPrefix = "SCRAM-SHA-256$";
  if (!starts_with(text, kPrefix)) return bad("does not start with SCRAM-SHA-256$");
  text.remove_prefix(kPrefix.size());
  auto dollar = text.find('$');
  if (dollar == std::string_view::npos) return bad("no '$' between salt and keys");
  std::string_view params = text.substr(0, dollar), keys = text.substr(dollar + 1);
  auto c1 = params.find(':'), c2 = keys.find(':');
  if (c1 == std::string_view::npos) return bad("no ':' between iterations and salt");
  if (c2 == std::string_view::npos) return bad("no ':' between StoredKey and ServerKey");
  ScramVerifier v;
  auto iters = parse_positive(params.substr(0, c1));
  if (!iters) return bad("iteration count is not a positive number");
  if (*iters < 4096) return bad("iteration count below 4096 (RFC 7677)");
  v.iterations = *iters;
  auto salt = b64_decode(params.substr(c1 + 1));
  auto stored = b64_decode(keys.substr(0, c2));
  auto server = b64_decode(keys.substr(c2 + 1));
  if (!salt || salt->empty()) return bad("salt is not base64");
  if (!stored || stored->size() != SHA256_DIGEST_LENGTH)
    return bad("StoredKey is not 32 bytes of base64");
  if (!server || server->size() != SHA256_DIGEST_LENGTH)
    return bad("ServerKey is not 32 bytes of base64");
  v.salt = std::move(*salt);
  v.stored_key = std::move(*stored);
  v.server_key = std::move(*server);
  return v;
}

Result<Credentials> make_credentials(std::string_view password) {
  if (password.empty()) return Error::bad_data("the password is empty");
  if (password.find('\0') != std::string_view::npos) {
    return Error::bad_data("the password contains a NUL byte");
  }
  std::array<char, CRYPT_GENSALT_OUTPUT_SIZE> setting{};
  // yescrypt at libxcrypt's default cost; the salt comes from the OS's random source.
  if (!crypt_gensalt_rn("$y$", 0, nullptr, 0, setting.data(), int(setting.size()))) {
    return Error::internal("crypt_gensalt_rn(yescrypt) failed");
  }
  std::string pw(password);
  auto data = std::make_unique<crypt_data>();
  const char* h = crypt_rn(pw.c_str(), setting.data(), data.get(), int(sizeof(crypt_data)));
  OPENSSL_cleanse(pw.data(), pw.size());
  if (!h || h[0] == '*') {
    OPENSSL_cleanse(data.get(), sizeof(crypt_data));
    return Error::internal("crypt_rn(yescrypt) failed");
  }
  Credentials c;
  c.hash = h;
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  std::string salt = random_bytes(16);
  if (salt.empty()) return Error::internal("RAND_bytes failed");
  c.scram = scram_verifier(password, salt, kScramIterations);
  return c;
}

Result<Credentials> import_hash(std::string_view text) {
  std::string_view hash = trim_hash(text);
  if (hash.empty() || hash == "!" || hash == "*" || hash == "!!" || hash == "x" || hash == "*LK*" ||
      (hash.size() <= 2 && (hash[0] == '!' || hash[0] == '*'))) {
    return Error::bad_data(
        "\"" + std::string(hash) +
        "\" is a locked or empty password field (shadow placeholder), not a hash; "
        "create the account without a password and set one with passwd");
  }
  if (hash[0] == '!') {
    return Error::bad_data(
        "the hash is locked (it starts with '!'); remove the '!' to import it as it was, "
        "or set a new password with passwd");
  }
  if (hash[0] == '{') {
    auto close = hash.find('}');
    if (close == std::string_view::npos) return Error::bad_data("scheme prefix without '}'");
    std::string scheme = upper(hash.substr(1, close - 1));
    std::string_view rest = hash.substr(close + 1);
    // Dovecot's ".b64"/".hex"/".base64" encoding suffixes only apply to digest schemes.
    std::string base = scheme.substr(0, scheme.find('.'));
    if (base == "CRYPT" || base == "BLF-CRYPT" || base == "SHA512-CRYPT" ||
        base == "SHA256-CRYPT" || base == "MD5-CRYPT" || base == "MD5" || base == "DES-CRYPT") {
      if (scheme != base)
        return Error::bad_data("{" + scheme + "}: crypt schemes take no encoding suffix");
      if (!rest.empty() && rest[0] == '{') return Error::bad_data("two scheme prefixes");
      hash = rest;
      if (hash.empty()) return Error::bad_data("{" + scheme + "} with no hash after it");
    } else if (base == "PLAIN" || base == "CLEAR" || base == "CLEARTEXT" || base == "PLAIN-TRUNC") {
      return Error::bad_data("{" + scheme +
                             "} is a clear-text password; set it with `account-ctl passwd` "
                             "(read from standard input) instead of importing it");
    } else if (base == "ARGON2" || base == "ARGON2I" || base == "ARGON2ID" || base == "PBKDF2") {
      return Error::bad_data("{" + scheme +
                             "} is not supported by libxcrypt; the user needs a new password");
    } else if (base == "SCRAM-SHA-1" || base == "SCRAM-SHA-256" || base == "CRAM-MD5" ||
               base == "HMAC-MD5" || base == "DIGEST-MD5" || base == "OTP" || base == "SKEY" ||
               base == "RPA" || base == "LANMAN" || base == "NTLM") {
      return Error::bad_data("{" + scheme +
                             "} is a mechanism-specific secret, not a crypt hash; the user "
                             "needs a new password");
    } else if (base == "SHA" || base == "SHA1" || base == "SHA256" || base == "SHA512" ||
               base == "SSHA" || base == "SSHA256" || base == "SSHA512" || base == "SMD5" ||
               base == "PLAIN-MD5" || base == "PLAIN-MD4" || base == "LDAP-MD5") {
      return Error::bad_data("{" + scheme +
                             "} is a fast (unsalted or single-round) digest and is refused; "
                             "the user needs a new password");
    } else {
      return Error::bad_data("unknown password scheme {" + scheme + "}");
    }
  }
  for (char c : hash) {
    if (static_cast<unsigned char>(c) <= ' ' || c == ':' || c == 0x7f) {
      return Error::bad_data("the hash contains whitespace, ':' or control characters");
    }
  }
  std::string h(hash);
  int check = crypt_checksalt(h.c_str());
  if (check != CRYPT_SALT_OK && check != CRYPT_SALT_METHOD_LEGACY) {
    return Error::bad_data("not a crypt(3) hash libxcrypt knows: \"" + h.substr(0, 8) + "...\"");
  }
  // The setting parses; make sure the whole string is a well-formed hash of that method:
  // hashing any password with it as the setting must give a string of the same shape.
  auto data = std::make_unique<crypt_data>();
  const char* out =
      crypt_rn("postern-import-check", h.c_str(), data.get(), int(sizeof(crypt_data)));
  bool shaped = out && out[0] != '*' && std::strlen(out) == h.size();
  size_t last = h.rfind('$');
  if (shaped && last != std::string::npos &&
      std::string_view(out, last) != std::string_view(h).substr(0, last)) {
    shaped = false;
  }
  if (!shaped) {
    if (h[0] != '$') {
      return Error::bad_data("not a crypt(3) hash (a clear-text password? use --password-stdin)");
    }
    return Error::bad_data("the hash is malformed (libxcrypt cannot verify against it)");
  }
  // Legacy methods libxcrypt still verifies: SHA-256-crypt, MD5-crypt (common in old
  // /etc/shadow and Dovecot exports), NetBSD sha1-crypt and Sun md5 are accepted;
  // traditional DES (8-character limit), BSDi DES and NT (unsalted MD4) are refused.
  bool legacy_ok = starts_with(h, "$5$") || starts_with(h, "$1$") || starts_with(h, "$sha1$") ||
                   starts_with(h, "$md5");
  if (check == CRYPT_SALT_METHOD_LEGACY && !legacy_ok) {
    return Error::bad_data(
        "the hash uses a weak legacy method (traditional DES, BSDi or NT) that is refused; "
        "the user needs a new password");
  }
  Credentials c;
  c.hash = std::move(h);
  return c;
}

bool verify_password(std::string_view password, const std::string& hash) {
  if (hash.empty() || hash[0] == '*' || hash[0] == '!' ||
      password.find('\0') != std::string_view::npos) {
    return false;
  }
  std::string pw(password);
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_rn(pw.c_str(), hash.c_str(), data.get(), int(sizeof(crypt_data)));
  OPENSSL_cleanse(pw.data(), pw.size());
  bool ok = out && out[0] != '*' && std::strlen(out) == hash.size() &&
            CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return ok;
}

std::string_view hash_scheme(std::string_view hash) {
  if (hash.empty()) return "none";
  if (starts_with(hash, "$y$")) return "yescrypt";
  if (starts_with(hash, "$gy$")) return "gost-yescrypt";
  if (starts_with(hash, "$7$")) return "scrypt";
  if (starts_with(hash, "$2b$") || starts_with(hash, "$2y$") || starts_with(hash, "$2a$") ||
      starts_with(hash, "$2x$"))
    return "bcrypt";
  if (starts_with(hash, "$6$")) return "sha512-crypt";
  if (starts_with(hash, "$5$")) return "sha256-crypt";
  if (starts_with(hash, "$sha1$")) return "sha1-crypt";
  if (starts_with(hash, "$md5")) return "sun-md5-crypt";
  if (starts_with(hash, "$1$")) return "md5-crypt";
  return "crypt";
}

}  // namespace postern::store
