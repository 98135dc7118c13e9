// Unit tests for lib/store/password: SCRAM-SHA-256 verifiers against the RFC 7677
// section 3 exchange, verifier serialization, yescrypt credentials, and importing the
// crypt(3) hashes Dovecot and /etc/shadow hold.
#include <gtest/gtest.h>

#include <string>

#include "store/password.h"

namespace {

namespace store = postern::store;

std::string b64(std::string_view in) {
  static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += k[(v >> s) & 63];
  }
  if (size_t r = in.size() - i) {
    uint32_t v = (uint8_t(in[i]) << 16) | (r == 2 ? uint8_t(in[i + 1]) << 8 : 0);
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += r == 2 ? k[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string xor_bytes(const std::string& a, const std::string& b) {
  std::string out(a);
  for (size_t i = 0; i < out.size(); ++i) out[i] = char(out[i] ^ b[i]);
  return out;
}

// RFC 7677 section 3: user "user", password "pencil".
constexpr const char* kClientFirstBare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr const char* kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr const char* kClientFinalWithoutProof =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr const char* kProof = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr const char* kServerSignature = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

store::ScramVerifier rfc_verifier() {
  auto v = store::ScramVerifier::parse(
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  EXPECT_TRUE(v.ok());
  return store::scram_verifier("pencil", v->salt, 4096);
}

TEST(Scram, Rfc7677ExampleServerSignature) {
  store::ScramVerifier v = rfc_verifier();
  std::string auth_message =
      std::string(kClientFirstBare) + "," + kServerFirst + "," + kClientFinalWithoutProof;
  // RFC 5802 3: ServerSignature := HMAC(ServerKey, AuthMessage)
  EXPECT_EQ(b64(store::hmac_sha256(v.server_key, auth_message)), kServerSignature);
}

TEST(Scram, Rfc7677ExampleClientProof) {
  store::ScramVerifier v = rfc_verifier();
  std::string auth_message =
      std::string(kClientFirstBare) + "," + kServerFirst + "," + kClientFinalWithoutProof;
  // The server side: recover ClientKey from the proof and check H(ClientKey) == StoredKey.
  std::string client_signature = store::hmac_sha256(v.stored_key, auth_message);
  // RFC 5802 3: ClientKey := ClientProof XOR ClientSignature, and the server accepts when
  // H(ClientKey) == StoredKey. Decode the RFC's proof first.
  std::string proof;
  {
    static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string_view s = kProof;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : s) {
      if (c == '=') break;
      acc = (acc << 6) | uint32_t(std::string_view(k).find(c));
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        proof += char((acc >> bits) & 0xff);
      }
    }
  }
  ASSERT_EQ(proof.size(), 32u);
  std::string client_key = xor_bytes(proof, client_signature);
  EXPECT_EQ(store::sha256(client_key), v.stored_key);
  EXPECT_EQ(b64(proof), kProof);  // the decoding above was exact
  // A wrong password gives a verifier the RFC's proof does not satisfy.
  store::ScramVerifier wrong = store::scram_verifier("pencil2", v.salt, 4096);
  std::string wrong_sig = store::hmac_sha256(wrong.stored_key, auth_message);
  EXPECT_NE(store::sha256(xor_bytes(proof, wrong_sig)), wrong.stored_key);
}

TEST(Scram, SerializeParseRoundTrip) {
  store::ScramVerifier v = rfc_verifier();
  std::string text = v.serialize();
  EXPECT_EQ(text.rfind("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$", 0), 0u) << text;
  auto back = store::ScramVerifier::parse(text);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->iterations, 4096);
  EXPECT_EQ(back->salt, v.salt);
  EXPECT_EQ(back->stored_key, v.stored_key);
  EXPECT_EQ(back->server_key, v.server_key);
  EXPECT_EQ(back->serialize(), text);
}

TEST(Scram, ParseIsStrict) {
  store::ScramVerifier v = rfc_verifier();
  std::string good = v.serialize();
  auto bad = [](const std::string& s) { return !store::ScramVerifier::parse(s).ok(); };
  EXPECT_FALSE(bad(good));
  EXPECT_TRUE(bad(""));
  EXPECT_TRUE(bad("SCRAM-SHA-1" + good.substr(13)));
  EXPECT_TRUE(bad("scram-sha-256" + good.substr(13)));
  EXPECT_TRUE(bad(good + "x"));
  EXPECT_TRUE(bad(good + "="));
  EXPECT_TRUE(bad(" " + good));
  std::string s = good;
  s.replace(s.find("4096"), 4, "4095");  // below RFC 7677's minimum
  EXPECT_TRUE(bad(s));
  s = good;
  s.replace(s.find("4096"), 4, "04096");
  EXPECT_TRUE(bad(s));
  s = good;
  s.replace(s.find("4096"), 4, "-4096");
  EXPECT_TRUE(bad(s));
  s = good;
  s.replace(s.find("4096"), 4, "");
  EXPECT_TRUE(bad(s));
  // A key of the wrong length.
  EXPECT_TRUE(bad("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$AAAA:" + b64(v.server_key)));
  // Missing separators.
  EXPECT_TRUE(bad("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + b64(v.stored_key)));
  EXPECT_TRUE(bad("SCRAM-SHA-256$4096W22ZaJ0SNY7soEsUEjb6gQ==$" + b64(v.stored_key) + ":" +
                  b64(v.server_key)));
  // Non-canonical base64 (bad trailing bits, missing padding, whitespace).
  EXPECT_TRUE(bad("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gR==$" + b64(v.stored_key) + ":" +
                  b64(v.server_key)));
  EXPECT_TRUE(bad("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ$" + b64(v.stored_key) + ":" +
                  b64(v.server_key)));
  EXPECT_TRUE(bad("SCRAM-SHA-256$4096:W22ZaJ0SNY7s oEsUEjb6gQ==$" + b64(v.stored_key) + ":" +
                  b64(v.server_key)));
  // Empty salt.
  EXPECT_TRUE(bad("SCRAM-SHA-256$4096:$" + b64(v.stored_key) + ":" + b64(v.server_key)));
}

TEST(Scram, SaslPrepNormalizesAndFallsBack) {
  std::string salt = "0123456789abcdef";
  // RFC 4013 2.1: U+00A0 NO-BREAK SPACE maps to SPACE; U+00AD SOFT HYPHEN maps to nothing.
  EXPECT_EQ(store::scram_verifier("a\xC2\xA0"
                                  "b",
                                  salt, 4096)
                .stored_key,
            store::scram_verifier("a b", salt, 4096).stored_key);
  EXPECT_EQ(store::scram_verifier("I\xC2\xAD"
                                  "X",
                                  salt, 4096)
                .stored_key,
            store::scram_verifier("IX", salt, 4096).stored_key);
  // NFKC: U+2168 ROMAN NUMERAL NINE becomes "IX".
  EXPECT_EQ(store::scram_verifier("\xE2\x85\xA8", salt, 4096).stored_key,
            store::scram_verifier("IX", salt, 4096).stored_key);
  // A prohibited character (U+0007, a control) makes SASLprep fail: the raw bytes are
  // used, so the verifier still exists and differs from the password without it.
  auto with_bell = store::scram_verifier("pass\x07word", salt, 4096);
  EXPECT_EQ(with_bell.stored_key.size(), 32u);
  EXPECT_NE(with_bell.stored_key, store::scram_verifier("password", salt, 4096).stored_key);
  // Invalid UTF-8 is hashed as raw bytes too, deterministically.
  EXPECT_EQ(store::scram_verifier("\xff\xfe", salt, 4096).stored_key,
            store::scram_verifier("\xff\xfe", salt, 4096).stored_key);
}

TEST(Credentials, MakeGivesYescryptAndScram) {
  auto c = store::make_credentials("correct horse battery staple");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->hash.rfind("$y$", 0), 0u) << c->hash;
  EXPECT_EQ(store::hash_scheme(c->hash), "yescrypt");
  EXPECT_TRUE(store::verify_password("correct horse battery staple", c->hash));
  EXPECT_FALSE(store::verify_password("correct horse battery stapl", c->hash));
  EXPECT_FALSE(store::verify_password("", c->hash));
  ASSERT_TRUE(c->scram.has_value());
  EXPECT_EQ(c->scram->iterations, store::kScramIterations);
  EXPECT_EQ(c->scram->salt.size(), 16u);
  auto again =
      store::scram_verifier("correct horse battery staple", c->scram->salt, c->scram->iterations);
  EXPECT_EQ(again.stored_key, c->scram->stored_key);
  EXPECT_EQ(again.server_key, c->scram->server_key);
  // Fresh salts each time.
  auto c2 = store::make_credentials("correct horse battery staple");
  ASSERT_TRUE(c2.ok());
  EXPECT_NE(c2->hash, c->hash);
  EXPECT_NE(c2->scram->salt, c->scram->salt);
  // The serialized verifier parses back to the same keys.
  auto parsed = store::ScramVerifier::parse(c->scram->serialize());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->stored_key, c->scram->stored_key);
}

TEST(Credentials, MakeRefusesEmptyAndNul) {
  auto empty = store::make_credentials("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code(), postern::base::ExitCode::kDataErr);
  auto nul = store::make_credentials(std::string_view("ab\0cd", 5));
  ASSERT_FALSE(nul.ok());
  EXPECT_EQ(nul.error().code(), postern::base::ExitCode::kDataErr);
}

// Generated once with `openssl passwd -6 -salt Vn3bOq2Pc8hQd1Zx 'correct horse'` and
// Python's crypt module (both agree on the $6$ value).
constexpr const char* kSha512 =
    "$6$Vn3bOq2Pc8hQd1Zx$N7zi99NH/U6jVFJSdf.qRT/FavO.Dpn2TX.HBICuDPhUjzrl9RO/"
    "pSTRw9ZRxc4CR2NZhmE6nb5lBEtNcrB5Z1";
constexpr const char* kBcrypt = "$2b$05$abcdefghijklmnopqrstuuHNbAKRhpaujgo33bRWs.NLUTJO3lOy2";
constexpr const char* kSha256 =
    "$5$rounds=5000$saltsaltsalt$7axwV9kT3PvvGXgJl1FcfUCHLdLFhWk/dIFhzsbucLB";
constexpr const char* kMd5 = "$1$saltsalt$NuzA7WTAelpl95xgBGWN60";
constexpr const char* kDes = "abhfCpXqd4GrI";

TEST(Import, KnownHashesVerify) {
  for (const char* h : {kSha512, kBcrypt, kSha256, kMd5}) {
    auto c = store::import_hash(h);
    ASSERT_TRUE(c.ok()) << h << ": " << c.error().message();
    EXPECT_EQ(c->hash, h);
    EXPECT_FALSE(c->scram.has_value());
    EXPECT_TRUE(store::verify_password("correct horse", c->hash)) << h;
    EXPECT_FALSE(store::verify_password("correct horsE", c->hash)) << h;
    EXPECT_FALSE(store::verify_password("", c->hash)) << h;
  }
  EXPECT_EQ(store::hash_scheme(kSha512), "sha512-crypt");
  EXPECT_EQ(store::hash_scheme(kBcrypt), "bcrypt");
  EXPECT_EQ(store::hash_scheme(kSha256), "sha256-crypt");
  EXPECT_EQ(store::hash_scheme(kMd5), "md5-crypt");
}

TEST(Import, DovecotPrefixesAreStripped) {
  struct Case {
    std::string in;
    const char* want;
  } cases[] = {
      {std::string("{SHA512-CRYPT}") + kSha512, kSha512},
      {std::string("{CRYPT}") + kSha512, kSha512},
      {std::string("{crypt}") + kBcrypt, kBcrypt},
      {std::string("{BLF-CRYPT}") + kBcrypt, kBcrypt},
      {std::string("{SHA256-CRYPT}") + kSha256, kSha256},
      {std::string("{MD5-CRYPT}") + kMd5, kMd5},
      {std::string(kSha512) + "\n", kSha512},  // a line from a file
  };
  for (const auto& c : cases) {
    auto got = store::import_hash(c.in);
    ASSERT_TRUE(got.ok()) << c.in << ": " << got.error().message();
    EXPECT_EQ(got->hash, c.want);
  }
  // A yescrypt hash we made ourselves imports as it is.
  auto made = store::make_credentials("s3cret");
  ASSERT_TRUE(made.ok());
  auto back = store::import_hash("{CRYPT}" + made->hash);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_TRUE(store::verify_password("s3cret", back->hash));
}

TEST(Import, RefusesClearTextDigestsAndPlaceholders) {
  auto refused = [](const std::string& in, const std::string& says) {
    auto r = store::import_hash(in);
    if (r.ok()) return testing::AssertionFailure() << in << " was accepted";
    if (r.error().code() != postern::base::ExitCode::kDataErr)
      return testing::AssertionFailure() << in << ": wrong code";
    if (r.error().message().find(says) == std::string::npos)
      return testing::AssertionFailure()
             << in << ": message \"" << r.error().message() << "\" lacks \"" << says << "\"";
    return testing::AssertionSuccess();
  };
  EXPECT_TRUE(refused("{PLAIN}pencil", "clear-text"));
  EXPECT_TRUE(refused("{CLEAR}pencil", "clear-text"));
  EXPECT_TRUE(refused("{CLEARTEXT}pencil", "clear-text"));
  EXPECT_TRUE(refused("{PLAIN.b64}cGVuY2ls", "clear-text"));
  EXPECT_TRUE(refused("{PLAIN-MD5}1a1dc91c907325c69271ddf0c944bc72", "digest"));
  EXPECT_TRUE(refused("{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=", "digest"));
  EXPECT_TRUE(refused("{SSHA}PTggDCOUPEVj5h7bZjhxfKWQBpey47nF", "digest"));
  EXPECT_TRUE(refused("{SSHA512}abcd", "digest"));
  EXPECT_TRUE(refused("{CRAM-MD5}abcd", "mechanism-specific"));
  EXPECT_TRUE(refused("{SCRAM-SHA-256}4096,abc,def,ghi", "mechanism-specific"));
  EXPECT_TRUE(refused("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$abc$def", "libxcrypt"));
  EXPECT_TRUE(refused("{NOPE}abc", "unknown password scheme"));
  EXPECT_TRUE(refused("{SHA512-CRYPT", "'}'"));
  EXPECT_TRUE(refused("{CRYPT}", "no hash"));
  for (const char* p : {"", "!", "*", "!!", "x", "*LK*", "  "}) {
    EXPECT_TRUE(refused(p, "placeholder")) << "\"" << p << "\"";
  }
  EXPECT_TRUE(refused(std::string("!") + kSha512, "locked"));
  EXPECT_TRUE(refused(kDes, "weak legacy"));
  EXPECT_TRUE(refused("pencil", "not a crypt(3) hash"));
  EXPECT_TRUE(refused("$3$$8846f7eaee8fb117ad06bdd830b7586c", "weak legacy"));
  EXPECT_TRUE(refused("$6$salt", "malformed"));
  EXPECT_TRUE(refused(std::string(kSha512).substr(0, 40), "malformed"));
  EXPECT_TRUE(refused(std::string(kSha512) + ":0:99999", "':'"));
}

TEST(Verify, NeverMatchesBrokenHashes) {
  EXPECT_FALSE(store::verify_password("anything", ""));
  EXPECT_FALSE(store::verify_password("anything", "*"));
  EXPECT_FALSE(store::verify_password("anything", "!"));
  EXPECT_FALSE(store::verify_password("correct horse", std::string("!") + kSha512));
  EXPECT_FALSE(store::verify_password(std::string_view("correct horse\0x", 15), kSha512));
  EXPECT_EQ(store::hash_scheme(""), "none");
}

}  // namespace
