// Unit tests for lib/auth/sasl: PLAIN (RFC 4616), LOGIN and SCRAM-SHA-256 (RFC 5802,
// RFC 7677) server exchanges, driven by a client written here, against an in-memory
// backend. The RFC 7677 section 3 exchange must come out byte for byte.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "auth/dkim.h"
#include "auth/sasl.h"
#include "store/password.h"
#include "printable.h"

namespace {

namespace sasl = postern::auth::sasl;
namespace dkim = postern::auth::dkim;
namespace store = postern::store;
using postern::base::Error;
using postern::base::Result;
using sasl::Step;

const char* kind_name(Step::Kind k) {
  switch (k) {
    case Step::kChallenge:
      return "challenge";
    case Step::kSuccess:
      return "success";
    case Step::kFailure:
      return "failure";
    case Step::kMalformed:
      return "malformed";
    case Step::kError:
      return "error";
  }
  return "?";
}

std::string b64d(std::string_view s) {
  auto d = dkim::base64_decode(s);
  EXPECT_TRUE(d.has_value()) << s;
  return d.value_or("");
}

// ---------------------------------------------------------------- the backend

// RFC 7677 section 3.
constexpr const char* kRfcSalt = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr const char* kRfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr const char* kRfcClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr const char* kRfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr const char* kRfcServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr const char* kRfcClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr const char* kRfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

sasl::ScramCredentials to_credentials(const store::ScramVerifier& v) {
  return {.iterations = v.iterations,
          .salt = v.salt,
          .stored_key = v.stored_key,
          .server_key = v.server_key};
}

struct FakeStore {
  std::vector<std::string> asked;  // user names passed to the callbacks, in order
  std::map<std::string, sasl::ScramCredentials> scram;
  bool fixed_nonce = false;

  FakeStore() {
    scram["user"] = to_credentials(store::scram_verifier("pencil", b64d(kRfcSalt), 4096));
    scram["ann@example.org"] =
        to_credentials(store::scram_verifier("secret", "0123456789abcdef", 4096));
    scram["a,b=c"] = to_credentials(store::scram_verifier("pw", "saltsaltsaltsalt", 4096));
  }

  sasl::Backend backend() {
    sasl::Backend b;
    b.check_password =
        [this](std::string_view user,
               std::string_view password) -> Result<std::optional<sasl::Backend::Match>> {
      asked.emplace_back(user);
      std::string u(user);
      for (char& c : u) c = char(std::tolower(static_cast<unsigned char>(c)));
      if (u == "error@example.org") return Error::temporary("store unavailable");
      if (u != "ann@example.org") return std::optional<sasl::Backend::Match>();
      if (password == "secret") return std::optional(sasl::Backend::Match{u, "account"});
      if (password == "app secret") {
        return std::optional(sasl::Backend::Match{u, "app-password phone"});
      }
      return std::optional<sasl::Backend::Match>();
    };
    b.scram = [this](std::string_view user) -> Result<std::optional<sasl::ScramCredentials>> {
      asked.emplace_back(user);
      if (user == "error@example.org") return Error::temporary("store unavailable");
      auto it = scram.find(std::string(user));
      if (it == scram.end()) return std::optional<sasl::ScramCredentials>();
      return std::optional(it->second);
    };
    if (fixed_nonce) b.server_nonce = [] { return std::string(kRfcServerNonce); };
    return b;
  }
};

// ---------------------------------------------------------------- a SCRAM client

// RFC 5802 2.2 Hi(): PBKDF2 with HMAC-SHA-256, one block.
std::string hi(std::string_view password, std::string_view salt, int iterations) {
  std::string u = store::hmac_sha256(password, std::string(salt) + std::string("\0\0\0\1", 4));
  std::string out = u;
  for (int i = 1; i < iterations; ++i) {
    u = store::hmac_sha256(password, u);
    for (size_t k = 0; k < out.size(); ++k) out[k] ^= u[k];
  }
  return out;
}

std::map<char, std::string> attributes(std::string_view msg) {
  std::map<char, std::string> out;
  size_t start = 0;
  while (start <= msg.size()) {
    size_t comma = msg.find(',', start);
    if (comma == std::string_view::npos) comma = msg.size();
    std::string_view a = msg.substr(start, comma - start);
    if (a.size() >= 2 && a[1] == '=') out[a[0]] = std::string(a.substr(2));
    start = comma + 1;
  }
  return out;
}

struct ScramClient {
  std::string gs2 = "n,,";
  std::string user_attr = "user";  // saslname as sent
  std::string password = "pencil";
  std::string nonce = "clientnonce123";
  std::string bare;
  std::string server_signature;  // what v= must carry

  std::string first() {
    bare = "n=" + user_attr + ",r=" + nonce;
    return gs2 + bare;
  }
  // The client-final message for `server_first`; `use_nonce` replaces the nonce sent back.
  std::string final(const std::string& server_first,
                    std::optional<std::string> use_nonce = std::nullopt,
                    std::optional<std::string> use_cbind = std::nullopt) {
    auto a = attributes(server_first);
    const std::string salted = hi(password, b64d(a['s']), std::stoi(a['i']));
    const std::string client_key = store::hmac_sha256(salted, "Client Key");
    const std::string stored_key = store::sha256(client_key);
    const std::string without_proof =
        "c=" + use_cbind.value_or(dkim::base64_encode(gs2)) + ",r=" + use_nonce.value_or(a['r']);
    const std::string auth_message = bare + "," + server_first + "," + without_proof;
    const std::string signature = store::hmac_sha256(stored_key, auth_message);
    std::string proof = client_key;
    for (size_t i = 0; i < proof.size(); ++i) proof[i] ^= signature[i];
    server_signature = "v=" + dkim::base64_encode(store::hmac_sha256(
                                  store::hmac_sha256(salted, "Server Key"), auth_message));
    return without_proof + ",p=" + dkim::base64_encode(proof);
  }
};

// ---------------------------------------------------------------- mechanism names

TEST(Mechanism, NamesRoundTrip) {
  EXPECT_EQ(sasl::parse_mechanism("PLAIN"), sasl::Mechanism::kPlain);
  EXPECT_EQ(sasl::parse_mechanism("plain"), sasl::Mechanism::kPlain);
  EXPECT_EQ(sasl::parse_mechanism("Login"), sasl::Mechanism::kLogin);
  EXPECT_EQ(sasl::parse_mechanism("SCRAM-SHA-256"), sasl::Mechanism::kScramSha256);
  EXPECT_EQ(sasl::parse_mechanism("scram-sha-256"), sasl::Mechanism::kScramSha256);
  EXPECT_EQ(sasl::parse_mechanism("SCRAM-SHA-256-PLUS"), std::nullopt);
  EXPECT_EQ(sasl::parse_mechanism("SCRAM-SHA-1"), std::nullopt);
  EXPECT_EQ(sasl::parse_mechanism("CRAM-MD5"), std::nullopt);
  EXPECT_EQ(sasl::parse_mechanism(""), std::nullopt);
  for (auto m : {sasl::Mechanism::kPlain, sasl::Mechanism::kLogin, sasl::Mechanism::kScramSha256}) {
    EXPECT_EQ(sasl::parse_mechanism(sasl::mechanism_name(m)), m);
  }
  EXPECT_EQ(sasl::mechanism_name(sasl::Mechanism::kScramSha256), "SCRAM-SHA-256");
}

// ---------------------------------------------------------------- PLAIN

struct PlainCase {
  std::string message;
  Step::Kind kind;
  std::string user = "";
  std::string via = "";
};
void PrintTo(const PlainCase& c, std::ostream* os) { *os << '"' << printable(c.message) << '"'; }

class Plain : public testing::TestWithParam<PlainCase> {
 protected:
  void check(const Step& s) {
    const PlainCase& c = GetParam();
    EXPECT_EQ(s.kind, c.kind) << kind_name(s.kind) << ": " << s.detail;
    EXPECT_EQ(s.user, c.user);
    EXPECT_EQ(s.via, c.via);
    if (s.kind == Step::kError || s.kind == Step::kFailure || s.kind == Step::kMalformed) {
      EXPECT_FALSE(s.detail.empty());
    }
    EXPECT_TRUE(s.data.empty());
  }
};

TEST_P(Plain, AsInitialResponse) {
  FakeStore fs;
  sasl::Exchange x(sasl::Mechanism::kPlain, fs.backend());
  check(x.start(GetParam().message));
}

TEST_P(Plain, AfterAnEmptyChallenge) {
  FakeStore fs;
  sasl::Exchange x(sasl::Mechanism::kPlain, fs.backend());
  Step s = x.start(std::nullopt);
  ASSERT_EQ(s.kind, Step::kChallenge);
  EXPECT_EQ(s.data, "");
  check(x.next(GetParam().message));
  // The exchange is over: anything more is a protocol error.
  EXPECT_EQ(x.next(GetParam().message).kind, Step::kMalformed);
}

using namespace std::string_literals;

INSTANTIATE_TEST_SUITE_P(
    Table, Plain,
    testing::Values(
        PlainCase{"\0ann@example.org\0secret"s, Step::kSuccess, "ann@example.org", "account"},
        PlainCase{"ann@example.org\0ann@example.org\0secret"s, Step::kSuccess, "ann@example.org",
                  "account"},
        PlainCase{"ANN@example.org\0ann@example.org\0secret"s, Step::kSuccess, "ann@example.org",
                  "account"},
        PlainCase{"\0Ann@Example.org\0secret"s, Step::kSuccess, "ann@example.org", "account"},
        PlainCase{"\0ann@example.org\0app secret"s, Step::kSuccess, "ann@example.org",
                  "app-password phone"},
        PlainCase{"bob@example.org\0ann@example.org\0secret"s, Step::kFailure},
        PlainCase{"\0ann@example.org\0wrong"s, Step::kFailure},
        PlainCase{"\0ann@example.org\0SECRET"s, Step::kFailure},
        PlainCase{"\0nobody@example.org\0secret"s, Step::kFailure},
        PlainCase{"\0error@example.org\0secret"s, Step::kError}, PlainCase{""s, Step::kMalformed},
        PlainCase{"ann@example.org"s, Step::kMalformed},
        PlainCase{"\0ann@example.org"s, Step::kMalformed},
        PlainCase{"\0ann@example.org\0"s, Step::kMalformed},
        PlainCase{"\0\0secret"s, Step::kMalformed}, PlainCase{"\0\0"s, Step::kMalformed},
        PlainCase{"\0ann@example.org\0sec\0ret"s, Step::kMalformed},
        PlainCase{"\0ann@example.org\0\xff\xfe"s, Step::kMalformed},
        PlainCase{"\0ann\xc0\xaf@example.org\0secret"s, Step::kMalformed}));

TEST(PlainExchange, AuthzidMismatchDoesNotReachTheBackend) {
  FakeStore fs;
  sasl::Exchange x(sasl::Mechanism::kPlain, fs.backend());
  EXPECT_EQ(x.start("admin@example.org\0ann@example.org\0secret"s).kind, Step::kFailure);
  EXPECT_TRUE(fs.asked.empty());
}

TEST(PlainExchange, PassesAuthcidAndPasswordThrough) {
  FakeStore fs;
  sasl::Exchange x(sasl::Mechanism::kPlain, fs.backend());
  Step s = x.start("\0error@example.org\0pw"s);
  EXPECT_EQ(s.kind, Step::kError);
  EXPECT_NE(s.detail.find("store unavailable"), std::string::npos) << s.detail;
  ASSERT_EQ(fs.asked.size(), 1u);
  EXPECT_EQ(fs.asked[0], "error@example.org");
}

TEST(PlainExchange, NoBackendIsAnError) {
  sasl::Exchange x(sasl::Mechanism::kPlain, sasl::Backend{});
  EXPECT_EQ(x.start("\0ann@example.org\0secret"s).kind, Step::kError);
}

TEST(PlainExchange, StartTwiceIsMalformed) {
  FakeStore fs;
  sasl::Exchange x(sasl::Mechanism::kPlain, fs.backend());
  ASSERT_EQ(x.start(std::nullopt).kind, Step::kChallenge);
  EXPECT_EQ(x.start(std::nullopt).kind, Step::kMalformed);
}

TEST(PlainExchange, NextBeforeStartIsMalformed) {
  FakeStore fs;
  sasl::Exchange x(sasl::Mechanism::kPlain, fs.backend());
  EXPECT_EQ(x.next("\0ann@example.org\0secret"s).kind, Step::kMalformed);
}

TEST(PlainExchange, MovesWithItsState) {
  FakeStore fs;
  sasl::Exchange x(sasl::Mechanism::kPlain, fs.backend());
  ASSERT_EQ(x.start(std::nullopt).kind, Step::kChallenge);
  sasl::Exchange y = std::move(x);
  EXPECT_EQ(y.next("\0ann@example.org\0secret"s).kind, Step::kSuccess);
}

// ---------------------------------------------------------------- LOGIN

struct LoginCase {
  std::optional<std::string> initial;   // the user name as an initial response
  std::vector<std::string> responses;   // what the client answers, in order
  std::vector<std::string> challenges;  // the challenges expected before each answer
  Step::Kind kind;
  std::string user = "";
  std::string via = "";
};
void PrintTo(const LoginCase& c, std::ostream* os) {
  *os << (c.initial ? "IR \"" + printable(*c.initial) + "\"" : std::string("no IR"));
  for (const auto& r : c.responses) *os << " \"" << printable(r) << '"';
}

class Login : public testing::TestWithParam<LoginCase> {};

TEST_P(Login, Exchange) {
  const LoginCase& c = GetParam();
  FakeStore fs;
  sasl::Exchange x(sasl::Mechanism::kLogin, fs.backend());
  Step s = x.start(c.initial ? std::optional<std::string_view>(*c.initial) : std::nullopt);
  size_t i = 0;
  for (; s.kind == Step::kChallenge; ++i) {
    ASSERT_LT(i, c.challenges.size()) << "unexpected challenge \"" << s.data << "\"";
    EXPECT_EQ(s.data, c.challenges[i]);
    ASSERT_LT(i, c.responses.size());
    s = x.next(c.responses[i]);
  }
  EXPECT_EQ(i, c.challenges.size());
  EXPECT_EQ(s.kind, c.kind) << kind_name(s.kind) << ": " << s.detail;
  EXPECT_EQ(s.user, c.user);
  EXPECT_EQ(s.via, c.via);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Login,
    testing::Values(
        LoginCase{std::nullopt,
                  {"ann@example.org", "secret"},
                  {"Username:", "Password:"},
                  Step::kSuccess,
                  "ann@example.org",
                  "account"},
        LoginCase{"ann@example.org",
                  {"secret"},
                  {"Password:"},
                  Step::kSuccess,
                  "ann@example.org",
                  "account"},
        LoginCase{std::nullopt,
                  {"ann@example.org", "app secret"},
                  {"Username:", "Password:"},
                  Step::kSuccess,
                  "ann@example.org",
                  "app-password phone"},
        LoginCase{
            std::nullopt, {"ann@example.org", "wrong"}, {"Username:", "Password:"}, Step::kFailure},
        LoginCase{std::nullopt,
                  {"nobody@example.org", "secret"},
                  {"Username:", "Password:"},
                  Step::kFailure},
        LoginCase{
            std::nullopt, {"ann@example.org", ""}, {"Username:", "Password:"}, Step::kFailure},
        LoginCase{std::nullopt,
                  {"error@example.org", "secret"},
                  {"Username:", "Password:"},
                  Step::kError},
        LoginCase{std::nullopt, {""}, {"Username:"}, Step::kMalformed},
        LoginCase{"", {}, {}, Step::kMalformed},
        LoginCase{std::nullopt, {"ann\0x"s}, {"Username:"}, Step::kMalformed},
        LoginCase{std::nullopt,
                  {"ann@example.org", "sec\0ret"s},
                  {"Username:", "Password:"},
                  Step::kMalformed}));

// ---------------------------------------------------------------- SCRAM-SHA-256

Step scram_start(sasl::Exchange& x, const std::string& first, bool initial) {
  if (initial) return x.start(first);
  Step s = x.start(std::nullopt);
  EXPECT_EQ(s.kind, Step::kChallenge);
  EXPECT_EQ(s.data, "");
  return x.next(first);
}

class ScramRfc7677 : public testing::TestWithParam<bool> {};  // with an initial response?

TEST_P(ScramRfc7677, ExchangeIsByteEqual) {
  FakeStore fs;
  fs.fixed_nonce = true;
  sasl::Exchange x(sasl::Mechanism::kScramSha256, fs.backend());
  Step s = scram_start(x, kRfcClientFirst, GetParam());
  ASSERT_EQ(s.kind, Step::kChallenge) << s.detail;
  EXPECT_EQ(s.data, kRfcServerFirst);
  s = x.next(kRfcClientFinal);
  ASSERT_EQ(s.kind, Step::kChallenge) << s.detail;
  EXPECT_EQ(s.data, kRfcServerFinal);
  s = x.next("");
  EXPECT_EQ(s.kind, Step::kSuccess) << s.detail;
  EXPECT_EQ(s.user, "user");
  EXPECT_EQ(s.via, "account");
  EXPECT_EQ(fs.asked, std::vector<std::string>{"user"});
}

INSTANTIATE_TEST_SUITE_P(InitialResponse, ScramRfc7677, testing::Bool());

TEST(Scram, OurClientReproducesTheRfcProof) {
  // Checks the test's own client against RFC 7677, so the tests below stand on it.
  ScramClient c;
  c.nonce = kRfcClientNonce;
  EXPECT_EQ(c.first(), kRfcClientFirst);
  EXPECT_EQ(c.final(kRfcServerFirst), kRfcClientFinal);
  EXPECT_EQ(c.server_signature, kRfcServerFinal);
}

// One SCRAM exchange with a twist, and how it must end.
struct ScramCase {
  std::string name;
  ScramClient client;
  std::optional<std::string> first_override;  // sent instead of client.first()
  // Changes the client-final message (given the server-first); empty: the honest one.
  std::function<std::string(ScramClient&, const std::string&)> final_message;
  Step::Kind first_kind = Step::kChallenge;  // the answer to client-first
  Step::Kind final_kind = Step::kChallenge;  // the answer to client-final
  Step::Kind last_kind = Step::kSuccess;     // the answer to the empty response
  std::string user = "";
};
void PrintTo(const ScramCase& c, std::ostream* os) { *os << c.name; }

ScramClient client(std::string user, std::string password, std::string gs2 = "n,,") {
  ScramClient c;
  c.user_attr = std::move(user);
  c.password = std::move(password);
  c.gs2 = std::move(gs2);
  return c;
}

class ScramExchange : public testing::TestWithParam<ScramCase> {};

TEST_P(ScramExchange, EndsAsExpected) {
  ScramCase c = GetParam();
  FakeStore fs;
  sasl::Exchange x(sasl::Mechanism::kScramSha256, fs.backend());
  const std::string first = c.first_override.value_or(c.client.first());
  if (c.first_override) c.client.bare = first.substr(first.find(",n=") + 1);
  Step s = x.start(first);
  ASSERT_EQ(s.kind, c.first_kind) << kind_name(s.kind) << ": " << s.detail;
  if (s.kind != Step::kChallenge) {
    EXPECT_FALSE(s.detail.empty());
    return;
  }
  const std::string server_first = s.data;
  auto attrs = attributes(server_first);
  EXPECT_EQ(attrs['r'].substr(0, c.client.nonce.size()), c.client.nonce);
  EXPECT_GT(attrs['r'].size(), c.client.nonce.size() + 16);  // a real server part

  const std::string final_msg =
      c.final_message ? c.final_message(c.client, server_first) : c.client.final(server_first);
  s = x.next(final_msg);
  ASSERT_EQ(s.kind, c.final_kind) << kind_name(s.kind) << ": " << s.detail;
  if (s.kind != Step::kChallenge) {
    EXPECT_FALSE(s.detail.empty());
    return;
  }
  EXPECT_EQ(s.data, c.client.server_signature);  // the client can verify the server
  s = x.next("");
  EXPECT_EQ(s.kind, c.last_kind) << kind_name(s.kind) << ": " << s.detail;
  EXPECT_EQ(s.user, c.user);
}

std::string tamper_nonce(ScramClient& c, const std::string& server_first) {
  std::string n = attributes(server_first)['r'];
  n.back() = n.back() == 'A' ? 'B' : 'A';
  return c.final(server_first, n);
}

std::string client_nonce_only(ScramClient& c, const std::string& server_first) {
  return c.final(server_first, c.nonce);
}

std::string replace_proof(ScramClient& c, const std::string& server_first,
                          const std::string& proof) {
  std::string m = c.final(server_first);
  return m.substr(0, m.rfind(",p=")) + ",p=" + proof;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ScramExchange,
    testing::Values(
        ScramCase{.name = "Honest", .client = client("user", "pencil"), .user = "user"},
        ScramCase{.name = "GS2FlagY", .client = client("user", "pencil", "y,,"), .user = "user"},
        ScramCase{
            .name = "AuthzidSelf", .client = client("user", "pencil", "n,a=user,"), .user = "user"},
        ScramCase{.name = "SaslnameEscapes", .client = client("a=2Cb=3Dc", "pw"), .user = "a,b=c"},
        ScramCase{.name = "AddressUser",
                  .client = client("ann@example.org", "secret"),
                  .user = "ann@example.org"},
        ScramCase{.name = "ExtensionsIgnored",
                  .client = client("user", "pencil"),
                  // The AuthMessage carries ",x=ext" on both sides (ScramClient::bare).
                  .first_override = "n,,n=user,r=clientnonce123,x=ext",
                  .user = "user"},
        ScramCase{.name = "WrongPassword",
                  .client = client("user", "pencil!"),
                  .final_kind = Step::kFailure},
        ScramCase{.name = "WrongPasswordCaseOnly",
                  .client = client("user", "Pencil"),
                  .final_kind = Step::kFailure},
        ScramCase{.name = "UnknownUser",
                  .client = client("nobody", "pencil"),
                  .final_kind = Step::kFailure},
        ScramCase{.name = "TamperedNonce",
                  .client = client("user", "pencil"),
                  .final_message = tamper_nonce,
                  .final_kind = Step::kFailure},
        ScramCase{.name = "ClientNonceOnly",
                  .client = client("user", "pencil"),
                  .final_message = client_nonce_only,
                  .final_kind = Step::kFailure},
        ScramCase{.name = "ChannelBindingMismatch",
                  .client = client("user", "pencil"),
                  .final_message =
                      [](ScramClient& c, const std::string& sf) {
                        return c.final(sf, std::nullopt, dkim::base64_encode("y,,"));
                      },
                  .final_kind = Step::kFailure},
        ScramCase{.name = "ProofOfZeros",
                  .client = client("user", "pencil"),
                  .final_message =
                      [](ScramClient& c, const std::string& sf) {
                        return replace_proof(c, sf, dkim::base64_encode(std::string(32, '\0')));
                      },
                  .final_kind = Step::kFailure},
        ScramCase{.name = "ProofTooShort",
                  .client = client("user", "pencil"),
                  .final_message =
                      [](ScramClient& c, const std::string& sf) {
                        return replace_proof(c, sf, dkim::base64_encode(std::string(31, 'x')));
                      },
                  .final_kind = Step::kMalformed},
        ScramCase{
            .name = "ProofNotBase64",
            .client = client("user", "pencil"),
            .final_message = [](ScramClient& c,
                                const std::string& sf) { return replace_proof(c, sf, "!!!!"); },
            .final_kind = Step::kMalformed},
        ScramCase{.name = "NoProof",
                  .client = client("user", "pencil"),
                  .final_message =
                      [](ScramClient& c, const std::string& sf) {
                        std::string m = c.final(sf);
                        return m.substr(0, m.rfind(",p="));
                      },
                  .final_kind = Step::kMalformed},
        ScramCase{.name = "FinalOutOfOrder",
                  .client = client("user", "pencil"),
                  .final_message =
                      [](ScramClient& c, const std::string& sf) {
                        auto a = attributes(sf);
                        return "r=" + a['r'] +
                               ",c=biws,p=" + dkim::base64_encode(std::string(32, 'x'));
                      },
                  .final_kind = Step::kMalformed},
        ScramCase{.name = "EmptyFinal",
                  .client = client("user", "pencil"),
                  .final_message = [](ScramClient&, const std::string&) { return std::string(); },
                  .final_kind = Step::kMalformed},
        ScramCase{.name = "ChannelBindingRequested",
                  .client = client("user", "pencil", "p=tls-unique,,"),
                  .first_kind = Step::kMalformed},
        ScramCase{.name = "BadGs2Flag",
                  .client = client("user", "pencil", "x,,"),
                  .first_kind = Step::kMalformed},
        ScramCase{.name = "Gs2WithoutAuthzidSlot",
                  .client = client("user", "pencil"),
                  .first_override = "n,n=user,r=abc",
                  .first_kind = Step::kMalformed},
        ScramCase{.name = "AuthzidOther",
                  .client = client("user", "pencil", "n,a=admin,"),
                  .first_kind = Step::kFailure},
        ScramCase{.name = "AuthzidBadSaslname",
                  .client = client("user", "pencil", "n,a=x=41,"),
                  .first_kind = Step::kMalformed},
        ScramCase{
            .name = "BadEscape", .client = client("a=2Xb", "pw"), .first_kind = Step::kMalformed},
        ScramCase{.name = "EscapeCutShort",
                  .client = client("ab=2", "pw"),
                  .first_kind = Step::kMalformed},
        ScramCase{.name = "EmptyUser", .client = client("", "pw"), .first_kind = Step::kMalformed},
        ScramCase{.name = "UserNotUtf8",
                  .client = client("\xff\xfe", "pw"),
                  .first_kind = Step::kMalformed},
        ScramCase{.name = "MandatoryExtension",
                  .client = client("user", "pencil"),
                  .first_override = "n,,m=ext,n=user,r=abc",
                  .first_kind = Step::kMalformed},
        ScramCase{.name = "NoNonce",
                  .client = client("user", "pencil"),
                  .first_override = "n,,n=user",
                  .first_kind = Step::kMalformed},
        ScramCase{.name = "EmptyNonce",
                  .client = client("user", "pencil"),
                  .first_override = "n,,n=user,r=",
                  .first_kind = Step::kMalformed},
        ScramCase{.name = "NonceNotPrintable",
                  .client = client("user", "pencil"),
                  .first_override = "n,,n=user,r=ab\x01"
                                    "c",
                  .first_kind = Step::kMalformed},
        ScramCase{.name = "UserAfterNonce",
                  .client = client("user", "pencil"),
                  .first_override = "n,,r=abc,n=user",
                  .first_kind = Step::kMalformed},
        ScramCase{.name = "BadExtension",
                  .client = client("user", "pencil"),
                  .first_override = "n,,n=user,r=abc,oops",
                  .first_kind = Step::kMalformed},
        ScramCase{.name = "Empty",
                  .client = client("user", "pencil"),
                  .first_override = "",
                  .first_kind = Step::kMalformed},
        ScramCase{.name = "BackendError",
                  .client = client("error@example.org", "pw"),
                  .first_kind = Step::kError}),
    [](const testing::TestParamInfo<ScramCase>& info) { return info.param.name; });

TEST(Scram, NonEmptyResponseAfterServerFinalIsMalformed) {
  FakeStore fs;
  sasl::Exchange x(sasl::Mechanism::kScramSha256, fs.backend());
  ScramClient c = client("user", "pencil");
  Step s = x.start(c.first());
  ASSERT_EQ(s.kind, Step::kChallenge);
  s = x.next(c.final(s.data));
  ASSERT_EQ(s.kind, Step::kChallenge);
  EXPECT_EQ(x.next("v=whatever").kind, Step::kMalformed);
}

TEST(Scram, SaslnameIsUnescapedForTheBackend) {
  FakeStore fs;
  sasl::Exchange x(sasl::Mechanism::kScramSha256, fs.backend());
  ASSERT_EQ(x.start("n,,n=a=2Cb=3Dc,r=abcdef").kind, Step::kChallenge);
  EXPECT_EQ(fs.asked, std::vector<std::string>{"a,b=c"});
}

TEST(Scram, BackendErrorIsReportedWithDetail) {
  FakeStore fs;
  sasl::Exchange x(sasl::Mechanism::kScramSha256, fs.backend());
  Step s = x.start("n,,n=error@example.org,r=abcdef");
  EXPECT_EQ(s.kind, Step::kError);
  EXPECT_NE(s.detail.find("store unavailable"), std::string::npos) << s.detail;
  EXPECT_TRUE(s.data.empty());
}

TEST(Scram, MalformedVerifierIsAnError) {
  FakeStore fs;
  fs.scram["short"] = {
      .iterations = 4096, .salt = "salt", .stored_key = "abc", .server_key = std::string(32, 'k')};
  sasl::Exchange x(sasl::Mechanism::kScramSha256, fs.backend());
  EXPECT_EQ(x.start("n,,n=short,r=abcdef").kind, Step::kError);
}

// The server-first message for `user` (a fresh exchange each time).
std::string server_first_for(FakeStore& fs, const std::string& user) {
  sasl::Exchange x(sasl::Mechanism::kScramSha256, fs.backend());
  Step s = x.start("n,,n=" + user + ",r=abcdef");
  EXPECT_EQ(s.kind, Step::kChallenge) << s.detail;
  return s.data;
}

TEST(Scram, UnknownUserLooksLikeARealOne) {
  FakeStore fs;
  // A verifier made the way account-ctl makes them.
  auto cred = store::make_credentials("correct horse");
  ASSERT_TRUE(cred.ok());
  ASSERT_TRUE(cred->scram.has_value());
  fs.scram["real@example.org"] = to_credentials(*cred->scram);

  const std::regex shape("r=abcdef[A-Za-z0-9+/]{32},s=([A-Za-z0-9+/=]+),i=([0-9]+)");
  std::smatch real, fake, fake2, other;
  const std::string real_first = server_first_for(fs, "real@example.org");
  const std::string fake_first = server_first_for(fs, "nobody@example.org");
  const std::string fake_again = server_first_for(fs, "nobody@example.org");
  const std::string other_first = server_first_for(fs, "someone@example.org");
  ASSERT_TRUE(std::regex_match(real_first, real, shape)) << real_first;
  ASSERT_TRUE(std::regex_match(fake_first, fake, shape)) << fake_first;
  ASSERT_TRUE(std::regex_match(fake_again, fake2, shape)) << fake_again;
  ASSERT_TRUE(std::regex_match(other_first, other, shape)) << other_first;
  // Same salt length and iteration count as a real verifier.
  EXPECT_EQ(b64d(fake[1].str()).size(), b64d(real[1].str()).size());
  EXPECT_EQ(fake[2].str(), real[2].str());
  // Stable for one name (as a real salt is), different between names.
  EXPECT_EQ(fake[1].str(), fake2[1].str());
  EXPECT_NE(fake[1].str(), other[1].str());
  // Server nonces are fresh every time.
  EXPECT_NE(fake_first, fake_again);

  // The real user logs in; the unknown one fails only at the end, whatever it sends.
  {
    sasl::Exchange x(sasl::Mechanism::kScramSha256, fs.backend());
    ScramClient c = client("real@example.org", "correct horse");
    Step s = x.start(c.first());
    ASSERT_EQ(s.kind, Step::kChallenge);
    s = x.next(c.final(s.data));
    ASSERT_EQ(s.kind, Step::kChallenge) << s.detail;
    s = x.next("");
    EXPECT_EQ(s.kind, Step::kSuccess);
    EXPECT_EQ(s.user, "real@example.org");
  }
  {
    sasl::Exchange x(sasl::Mechanism::kScramSha256, fs.backend());
    ScramClient c = client("nobody@example.org", "correct horse");
    Step s = x.start(c.first());
    ASSERT_EQ(s.kind, Step::kChallenge);
    s = x.next(c.final(s.data));
    EXPECT_EQ(s.kind, Step::kFailure);
    EXPECT_TRUE(s.data.empty());
  }
}

TEST(Scram, RandomServerNoncesDiffer) {
  FakeStore fs;
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) seen.insert(attributes(server_first_for(fs, "user"))['r']);
  EXPECT_EQ(seen.size(), 20u);
}

TEST(Scram, NothingAfterFailure) {
  FakeStore fs;
  sasl::Exchange x(sasl::Mechanism::kScramSha256, fs.backend());
  ScramClient c = client("user", "wrong");
  Step s = x.start(c.first());
  ASSERT_EQ(s.kind, Step::kChallenge);
  ASSERT_EQ(x.next(c.final(s.data)).kind, Step::kFailure);
  EXPECT_EQ(x.next("").kind, Step::kMalformed);
}

}  // namespace
