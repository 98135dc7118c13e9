// Unit tests for lib/config: positions, unknown and duplicate keys, types, required keys,
// substitution, include, --set, defaults, the example file, effective YAML and the docs.
#include "config/config.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>

#include <gtest/gtest.h>

#include "base/cli.h"
#include "base/fd.h"
#include "base/log.h"
#include "config/internal.h"
#include "config/spam.h"

namespace postern::config {
namespace {

::testing::AssertionResult Contains(const std::string& haystack, const std::string& needle) {
  if (haystack.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "missing: " << needle << "\nin: " << haystack;
}
#define EXPECT_CONTAINS(haystack, needle) EXPECT_TRUE(Contains((haystack), (needle)))

class ConfigTest : public ::testing::Test {
 protected:
  // Writes `text` to `name` under the temp dir; returns its path.
  std::string write(const std::string& name, const std::string& text) {
    std::string path = dir_.path() + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
    return path;
  }

  // Loads and returns every diagnostic as a string.
  std::vector<std::string> errors(const std::string& path,
                                  const std::vector<std::string>& sets = {}) {
    Config c;
    std::vector<std::string> out;
    for (const auto& d : load_diagnostics(path, sets, &c)) out.push_back(d.str());
    return out;
  }

  Config must_load(const std::string& path, const std::vector<std::string>& sets = {}) {
    auto c = load(path, sets);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message());
    return c.ok() ? *c : Config();
  }

  base::TempDir dir_{"postern-config-test"};
};

std::string machine_hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

TEST_F(ConfigTest, DiagnosticFormat) {
  EXPECT_EQ((Diagnostic{"a.yaml", 12, 9, "bad"}).str(), "a.yaml:12:9: bad");
  EXPECT_EQ((Diagnostic{"--set x=1", 0, 0, "bad"}).str(), "--set x=1: bad");
}

TEST_F(ConfigTest, Defaults) {
  Config c = defaults();
  EXPECT_EQ(c.get_string("server.hostname"), machine_hostname());
  EXPECT_EQ(c.get_string("server.user"), "postern");
  EXPECT_EQ(c.get_string("server.data_dir"), "/var/lib/postern");
  EXPECT_EQ(c.get_string("log.format"), "logfmt");
  EXPECT_EQ(c.get_string("log.level"), "info");
  EXPECT_TRUE(c.get_list("dns.servers").empty());
  EXPECT_EQ(c.get_duration("dns.timeout"), std::chrono::seconds(5));
  EXPECT_EQ(c.get_string("store.engine"), "sqlite");
  EXPECT_EQ(c.get_string("store.path"), "/var/lib/postern/store.db");
  EXPECT_EQ(c.get_string("store.url"), "");
  EXPECT_EQ(c.get_size("smtp.max_message_size"), 35u << 20);
  EXPECT_EQ(c.get_int("smtp.max_recipients"), 100);
  EXPECT_TRUE(c.get_bool("smtp.auth_requires_tls"));
  EXPECT_TRUE(c.get_maps("listeners").empty());
  // Lists with a default have it (the schema's flow text, item by item).
  EXPECT_EQ(c.get_list("delivery.retry"),
            (std::vector<std::string>{"5m", "10m", "20m", "40m", "80m", "160m", "4h"}));
  EXPECT_EQ(c.get_list("smtp.local_trusted_users"), (std::vector<std::string>{"root"}));
  const auto& shorteners = c.get_list("spam.shorteners");
  EXPECT_EQ(shorteners.size(), 20u);
  EXPECT_EQ(shorteners.front(), "bit.ly");
  EXPECT_EQ(shorteners.back(), "x.co");
  EXPECT_EQ(c.get_string("include"), "");
  EXPECT_TRUE(c.is_default("log.level"));
  EXPECT_TRUE(c.warnings().empty());
  EXPECT_THROW(c.get_string("log.lvl"), std::logic_error);
  EXPECT_THROW(c.get_int("log.level"), std::logic_error);
}

TEST_F(ConfigTest, SpamDnsblZoneWeightsAndRejectThreshold) {
  std::string p = write("postern.yaml",
                        "spam:\n"
                        "  dnsbl:\n"
                        "    zones: [spamhaus-zen:zen.dnsbl.test=0.5, ip:bl.example.net]\n"
                        "    reject: \"2.5\"\n");
  auto s = spam_settings(must_load(p));
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_EQ(s->dnsbl.size(), 2u);
  EXPECT_EQ(s->dnsbl[0].zone, "zen.dnsbl.test");
  ASSERT_FALSE(s->dnsbl[0].codes.empty());
  for (const auto& code : s->dnsbl[0].codes) EXPECT_DOUBLE_EQ(code.score, 0.5) << code.name;
  EXPECT_EQ(s->dnsbl[1].zone, "bl.example.net");
  EXPECT_DOUBLE_EQ(s->dnsbl[1].score, 3.0);  // spam.dnsbl.score
  EXPECT_DOUBLE_EQ(s->dnsbl_reject, 2.5);
  EXPECT_DOUBLE_EQ(spam_settings(defaults())->dnsbl_reject, 1.5);
  auto bad = spam_settings(must_load(p, {"spam.dnsbl.zones=[ip:bl.example.net=lots]"}));
  ASSERT_FALSE(bad);
  EXPECT_CONTAINS(bad.error().message(), "ip:bl.example.net=lots");
}

TEST_F(ConfigTest, ValuesAndOriginsFromAFile) {
  std::string p = write("postern.yaml",
                        "server:\n"
                        "  hostname: mx.example.org\n"
                        "  data_dir: data\n"
                        "dns:\n"
                        "  servers: [127.0.0.1:53, \"[::1]:5353\"]\n"
                        "  timeout: 1h30m\n"
                        "smtp:\n"
                        "  max_message_size: 10MB\n"
                        "  max_recipients: 7\n"
                        "  auth_requires_tls: false\n"
                        "listeners:\n"
                        "  - name: mx\n"
                        "    address: 0.0.0.0:25\n"
                        "    mode: mx\n");
  Config c = must_load(p);
  EXPECT_EQ(c.get_string("server.hostname"), "mx.example.org");
  EXPECT_EQ(c.origin("server.hostname"), p + ":2:13");
  // Relative paths are relative to the file's directory; defaults follow data_dir.
  EXPECT_EQ(c.get_string("server.data_dir"), dir_.path() + "/data");
  EXPECT_EQ(c.get_string("store.path"), dir_.path() + "/data/store.db");
  EXPECT_EQ(c.get_list("dns.servers"), (std::vector<std::string>{"127.0.0.1:53", "[::1]:5353"}));
  EXPECT_EQ(c.get_duration("dns.timeout"), std::chrono::seconds(5400));
  EXPECT_EQ(c.get_size("smtp.max_message_size"), 10u << 20);
  EXPECT_EQ(c.get_int("smtp.max_recipients"), 7);
  EXPECT_FALSE(c.get_bool("smtp.auth_requires_tls"));
  ASSERT_EQ(c.get_maps("listeners").size(), 1u);
  const Config& l = c.get_maps("listeners")[0];
  EXPECT_EQ(l.get_string("name"), "mx");
  EXPECT_EQ(l.get_string("address"), "0.0.0.0:25");
  EXPECT_EQ(l.get_string("mode"), "mx");
  EXPECT_EQ(l.origin("address"), p + ":13:14");
  EXPECT_EQ(c.file(), p);
}

TEST_F(ConfigTest, ExactPositionOfATypeError) {
  std::string p = write("postern.yaml",
                        "# comment\n"
                        "log:\n"
                        "  format: json\n"
                        "  level: verbose\n");
  EXPECT_EQ(
      errors(p),
      (std::vector<std::string>{p + ":4:10: log.level: expected one of debug, info, warn, error, "
                                    "got \"verbose\""}));
  auto r = load(p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), base::ExitCode::kConfig);
}

TEST_F(ConfigTest, ScalarForms) {
  auto duration = [](const std::string& v) -> std::optional<int64_t> {
    auto c = load("", {"dns.timeout=" + v});
    if (!c) return std::nullopt;
    return c->get_duration("dns.timeout").count();
  };
  EXPECT_EQ(duration("0"), 0);
  EXPECT_EQ(duration("30s"), 30);
  EXPECT_EQ(duration("5m"), 300);
  EXPECT_EQ(duration("4h"), 14400);
  EXPECT_EQ(duration("5d"), 432000);
  EXPECT_EQ(duration("1h30m"), 5400);
  for (const char* bad : {"5", "-5s", "5 s", "5S", "s", "1.5h", "99999999999d"}) {
    EXPECT_EQ(duration(bad), std::nullopt) << bad;
  }
  auto size = [](const std::string& v) -> std::optional<uint64_t> {
    auto c = load("", {"smtp.max_message_size=" + v});
    if (!c) return std::nullopt;
    return c->get_size("smtp.max_message_size");
  };
  EXPECT_EQ(size("0"), 0u);
  EXPECT_EQ(size("1000"), 1000u);
  EXPECT_EQ(size("512K"), 512u << 10);
  EXPECT_EQ(size("10KiB"), 10u << 10);
  EXPECT_EQ(size("35MB"), 35u << 20);
  EXPECT_EQ(size("1g"), 1u << 30);
  for (const char* bad :
       {"1.5M", "-1", "M", "10 M", "10MX", "99999999999999999999", "17179869184G"}) {
    EXPECT_EQ(size(bad), std::nullopt) << bad;
  }
  auto host_port = [](const std::string& v) {
    return load("", {"dns.servers=[\"" + v + "\"]"}).ok();
  };
  for (const char* good : {"127.0.0.1:53", "[::1]:53", "ns.example.org:5353", "h:65535"}) {
    EXPECT_TRUE(host_port(good)) << good;
  }
  for (const char* bad :
       {"127.0.0.1", ":53", "h:0", "h:65536", "::1:53", "[::1]", "h:5x", "a b:53"}) {
    EXPECT_FALSE(host_port(bad)) << bad;
  }
  EXPECT_EQ(load("", {"smtp.max_recipients=-3"})->get_int("smtp.max_recipients"), -3);
  EXPECT_FALSE(load("", {"smtp.max_recipients=3.5"}).ok());
  EXPECT_FALSE(load("", {"smtp.auth_requires_tls=True"}).ok());
}

TEST_F(ConfigTest, UnknownKeysWithSuggestions) {
  std::string p = write("postern.yaml",
                        "log:\n"
                        "  lvl: debug\n"
                        "servr:\n"
                        "  user: x\n"
                        "level: info\n"
                        "frobnicate: 1\n"
                        "listeners:\n"
                        "  - name: a\n"
                        "    adress: 127.0.0.1:25\n"
                        "    mode: mx\n");
  EXPECT_EQ(errors(p),
            (std::vector<std::string>{
                p + ":2:3: unknown key log.lvl (did you mean log.level?)",
                p + ":3:1: unknown key servr (did you mean server?)",
                p + ":5:1: unknown key level (did you mean log.level?)",
                p + ":6:1: unknown key frobnicate",
                p + ":9:5: unknown key listeners[0].adress (did you mean listeners[0].address?)",
                p + ":8:5: listeners[0]: missing required key address",
            }));
}

TEST_F(ConfigTest, DuplicateKeys) {
  // yaml-cpp 0.7 keeps both pairs of a duplicated key without complaint; we report them.
  std::string p = write("postern.yaml",
                        "log:\n"
                        "  level: info\n"
                        "  level: debug\n"
                        "server:\n"
                        "  user: a\n"
                        "log:\n"
                        "  format: json\n"
                        "listeners:\n"
                        "  - name: a\n"
                        "    address: 127.0.0.1:25\n"
                        "    mode: mx\n"
                        "    mode: imap\n");
  EXPECT_EQ(errors(p),
            (std::vector<std::string>{
                p + ":3:3: duplicate key log.level (first defined at " + p + ":2:3)",
                p + ":6:1: duplicate key log (first defined at " + p + ":1:1)",
                p + ":12:5: duplicate key listeners[0].mode (first defined at " + p + ":11:5)",
            }));
}

TEST_F(ConfigTest, TypeErrorsForEveryType) {
  std::string p = write("postern.yaml",
                        "server:\n"
                        "  hostname: [a, b]\n"  // 2 string
                        "  data_dir: \"\"\n"    // 3 path
                        "log:\n"
                        "  format: xml\n"  // 5 enum
                        "dns:\n"
                        "  servers: [1.2.3.4, \"host:99999\"]\n"  // 7 list of host:port
                        "  timeout: 10\n"                         // 8 duration
                        "smtp:\n"
                        "  max_message_size: 10X\n"   // 10 size
                        "  max_recipients: many\n"    // 11 int
                        "  auth_requires_tls: yes\n"  // 12 bool
                        "store: sqlite\n"             // 13 section
                        "listeners:\n"
                        "  - name: x\n"
                        "    address: localhost\n"  // 16 host:port
                        "    mode: pop3\n"          // 17 enum
                        "  - just a string\n");     // 18 list of mappings
  EXPECT_EQ(
      errors(p),
      (std::vector<std::string>{
          p + ":2:13: server.hostname: expected a string, got a list",
          p + ":3:13: server.data_dir: expected a path, got \"\"",
          p + ":5:11: log.format: expected one of text, logfmt, json, got \"xml\"",
          p + ":7:13: dns.servers[0]: expected host:port, got \"1.2.3.4\"",
          p + ":7:22: dns.servers[1]: expected host:port, got \"host:99999\"",
          p + ":8:12: dns.timeout: expected a duration like 30s, 5m, 4h or 5d, got \"10\"",
          p + ":10:21: smtp.max_message_size: expected a size like 512K, 10M or 1G, got \"10X\"",
          p + ":11:19: smtp.max_recipients: expected an integer, got \"many\"",
          p + ":12:22: smtp.auth_requires_tls: expected true or false, got \"yes\"",
          p + ":13:8: store: expected a mapping (a section with keys engine, path, url, blobs, "
              "blob_dir), got \"sqlite\"",
          p + ":16:14: listeners[0].address: expected host:port, got \"localhost\"",
          p + ":17:11: listeners[0].mode: expected one of mx, submission, submissions, lmtp, "
              "local, imap, imaps, jmap, dav, metrics, got \"pop3\"",
          p + ":18:5: listeners[1]: expected a mapping, got \"just a string\"",
      }));
}

TEST_F(ConfigTest, EmptyValueAndListWhereScalarExpected) {
  std::string p = write("postern.yaml",
                        "log:\n"
                        "  level:\n"
                        "dns:\n"
                        "  timeout: {a: 1}\n"
                        "  servers: 127.0.0.1:53\n");
  EXPECT_EQ(errors(p),
            (std::vector<std::string>{
                p + ":2:3: log.level: expected one of debug, info, warn, error, got an empty value",
                p + ":4:12: dns.timeout: expected a duration like 30s, 5m, 4h or 5d, got a mapping",
                p + ":5:12: dns.servers: expected a list of host:port values, got "
                    "\"127.0.0.1:53\"",
            }));
}

TEST_F(ConfigTest, RequiredKeysAndUniqueNames) {
  std::string p = write("postern.yaml",
                        "listeners:\n"
                        "  - name: a\n"
                        "    address: 127.0.0.1:25\n"
                        "    mode: mx\n"
                        "  - mode: imap\n"
                        "  - name: a\n"
                        "    address: 127.0.0.1:26\n"
                        "    mode: mx\n");
  EXPECT_EQ(errors(p), (std::vector<std::string>{
                           p + ":5:5: listeners[1]: missing required key name",
                           p + ":5:5: listeners[1]: missing required key address",
                       }));
  std::string q = write("q.yaml",
                        "listeners:\n"
                        "  - {name: a, address: \"127.0.0.1:25\", mode: mx}\n"
                        "  - {name: a, address: \"127.0.0.1:26\", mode: mx}\n");
  EXPECT_EQ(errors(q), (std::vector<std::string>{q +
                                                 ":3:12: listeners[1].name: \"a\" is "
                                                 "already used (at " +
                                                 q + ":2:12)"}));
}

TEST_F(ConfigTest, EnvAndFileSubstitution) {
  ::setenv("POSTERN_TEST_HOST", "env.example.org", 1);
  ::unsetenv("POSTERN_TEST_UNSET");
  write("secrets/db.pass", "s3cret\n\n");
  write("secrets/url", "host=db\n");
  std::string p = write("postern.yaml",
                        "server:\n"
                        "  hostname: ${env:POSTERN_TEST_HOST}\n"
                        "  user: pre$$post$x\n"
                        "store:\n"
                        "  engine: postgresql\n"
                        "  url: \"${file:secrets/url} password=${file:secrets/db.pass}\"\n");
  Config c = must_load(p);
  EXPECT_EQ(c.get_string("server.hostname"), "env.example.org");
  EXPECT_EQ(c.get_string("server.user"), "pre$post$x");
  // Only one trailing newline is stripped.
  EXPECT_EQ(c.get_string("store.url"), "host=db password=s3cret\n");

  std::string bad = write("bad.yaml",
                          "server:\n"
                          "  hostname: a${env:POSTERN_TEST_UNSET}b\n"
                          "  user: ${file:missing.txt}\n"
                          "  data_dir: /x/${nope}\n"
                          "log:\n"
                          "  level: ${env:POSTERN_TEST_HOST\n");
  EXPECT_EQ(errors(bad),
            (std::vector<std::string>{
                bad + ":2:13: server.hostname: ${env:POSTERN_TEST_UNSET}: environment variable "
                      "POSTERN_TEST_UNSET is not set",
                bad + ":3:9: server.user: ${file:missing.txt}: cannot read " + dir_.path() +
                    "/missing.txt: No such file or directory",
                bad + ":4:13: server.data_dir: unknown substitution ${nope} (use ${env:NAME}, "
                      "${file:PATH}, or $$ for a literal $)",
                bad + ":6:10: log.level: unterminated ${ (write $$ for a literal $)",
            }));
}

TEST_F(ConfigTest, IncludeDirectory) {
  write("conf.d/20-listeners.yaml",
        "listeners:\n"
        "  - name: mx\n"
        "    address: 127.0.0.1:2525\n"
        "    mode: mx\n");
  write("conf.d/10-log.yaml",
        "log:\n"
        "  level: debug\n");
  write("conf.d/ignored.txt", "not: yaml: at all\n");
  std::string p = write("postern.yaml",
                        "log:\n"
                        "  format: json\n"
                        "include: conf.d/\n");
  Config c = must_load(p);
  EXPECT_EQ(c.get_string("log.level"), "debug");
  EXPECT_EQ(c.get_string("log.format"), "json");
  ASSERT_EQ(c.get_maps("listeners").size(), 1u);
  std::string d = dir_.path() + "/conf.d/";
  EXPECT_EQ(c.included_files(),
            (std::vector<std::string>{d + "10-log.yaml", d + "20-listeners.yaml"}));
  EXPECT_EQ(c.origin("log.level"), d + "10-log.yaml:2:10");
}

TEST_F(ConfigTest, IncludeErrorsCarryTheIncludedFile) {
  write("conf.d/a.yaml",
        "log:\n"
        "  level: loud\n");
  write("conf.d/b.yaml",
        "server:\n"
        "  user: other\n"
        "include: more/\n");
  std::string p = write("postern.yaml",
                        "server:\n"
                        "  user: postern\n"
                        "include: conf.d\n");
  std::string d = dir_.path() + "/conf.d/";
  EXPECT_EQ(errors(p),
            (std::vector<std::string>{
                d + "b.yaml:3:1: include is only allowed in the main file (" + p + ")",
                d + "b.yaml:2:3: duplicate key server.user (first defined at " + p + ":2:3)",
                d + "a.yaml:2:10: log.level: expected one of debug, info, warn, "
                    "error, got \"loud\"",
            }));
  std::string q = write("q.yaml", "include: nowhere/\n");
  EXPECT_EQ(errors(q), (std::vector<std::string>{q + ":1:10: include: " + dir_.path() +
                                                 "/nowhere/: no such file or directory"}));
}

TEST_F(ConfigTest, SyntaxErrorsAndDocuments) {
  std::string p = write("postern.yaml", "log:\n  level: [debug\n");
  auto e = errors(p);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_CONTAINS(e[0], (p + ":3:1: YAML syntax error: "));
  std::string q = write("q.yaml", "log: {}\n---\nlog: {}\n");
  EXPECT_EQ(errors(q), (std::vector<std::string>{
                           q + ":2:1: only one YAML document is allowed (found a second one)"}));
  std::string r = write("r.yaml", "- a\n- b\n");
  EXPECT_EQ(errors(r),
            (std::vector<std::string>{r + ":1:1: the top level must be a mapping of keys"}));
  std::string missing = dir_.path() + "/missing.yaml";
  EXPECT_EQ(errors(missing),
            (std::vector<std::string>{missing + ": cannot read: No such file or directory"}));
  std::string empty = write("empty.yaml", "# nothing\n");
  EXPECT_TRUE(errors(empty).empty());
}

TEST_F(ConfigTest, AliasesAreExpanded) {
  std::string p = write("postern.yaml",
                        "server:\n"
                        "  hostname: &h mx.example.org\n"
                        "  user: *h\n");
  Config c = must_load(p);
  EXPECT_EQ(c.get_string("server.user"), "mx.example.org");
}

TEST_F(ConfigTest, SetOverrides) {
  std::string p = write("postern.yaml",
                        "log:\n"
                        "  level: info\n"
                        "  format: json\n");
  Config c = must_load(p, {"log.level=warn", "log.level=debug", "dns.servers=[127.0.0.1:53]",
                           "store.url=", "server.data_dir=rel", "log={format: text}",
                           "listeners=[{name: a, address: '127.0.0.1:1', mode: lmtp}]"});
  EXPECT_EQ(c.get_string("log.level"), "debug");
  EXPECT_EQ(c.get_string("log.format"), "text");
  EXPECT_EQ(c.origin("log.level"), "--set log.level=debug");
  EXPECT_EQ(c.get_list("dns.servers"), std::vector<std::string>{"127.0.0.1:53"});
  EXPECT_EQ(c.get_string("store.url"), "");
  EXPECT_EQ(c.get_string("server.data_dir"), std::filesystem::current_path().string() + "/rel");
  ASSERT_EQ(c.get_maps("listeners").size(), 1u);
  EXPECT_EQ(c.get_maps("listeners")[0].get_string("mode"), "lmtp");

  EXPECT_EQ(errors(p, {"log.lvl=x", "log.level=x", "nonsense", "include=x", "log.level.deep=1",
                       "lgo.level=debug", "dns.timeout=[1"}),
            (std::vector<std::string>{
                "--set log.lvl=x: unknown key log.lvl (did you mean log.level?)",
                "--set nonsense: expected key=value",
                "--set include=x: include cannot be given with --set",
                "--set log.level.deep=1: unknown key log.level.deep (did you mean log.level?)",
                "--set lgo.level=debug: unknown key lgo.level (did you mean log.level?)",
                "--set dns.timeout=[1: YAML syntax error: end of sequence flow not found",
                "--set log.level=x: log.level: expected one of debug, info, warn, error, got "
                "\"x\"",
            }));
}

TEST_F(ConfigTest, AllErrorsCollectedInOneRun) {
  std::string p = write("postern.yaml",
                        "log:\n"
                        "  level: loud\n"
                        "  level: quiet\n"
                        "bogus: 1\n"
                        "dns:\n"
                        "  timeout: forever\n"
                        "listeners:\n"
                        "  - name: a\n");
  auto r = load(p, {"smtp.max_recipients=x"});
  ASSERT_FALSE(r);
  std::string m = r.error().message();
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 6) << m;  // seven diagnostics
  EXPECT_CONTAINS(m, (p + ":3:3: duplicate key log.level"));
  EXPECT_CONTAINS(m, (p + ":2:10: log.level: expected one of"));
  EXPECT_CONTAINS(m, (p + ":4:1: unknown key bogus"));
  EXPECT_CONTAINS(m, (p + ":6:12: dns.timeout: expected a duration"));
  EXPECT_CONTAINS(m, (p + ":8:5: listeners[0]: missing required key address"));
  EXPECT_CONTAINS(m, (p + ":8:5: listeners[0]: missing required key mode"));
  EXPECT_CONTAINS(m, ("--set smtp.max_recipients=x: smtp.max_recipients: expected an "
                      "integer, got \"x\""));
}

TEST_F(ConfigTest, CrossKeyChecks) {
  EXPECT_EQ(errors("", {"store.engine=postgresql"}),
            (std::vector<std::string>{
                "--set store.engine=postgresql: store.url: required when store.engine is "
                "postgresql"}));
  std::string p = write("postern.yaml", "store:\n  url: host=db\n");
  Config c = must_load(p);
  ASSERT_EQ(c.warnings().size(), 1u);
  EXPECT_EQ(c.warnings()[0].str(), p + ":2:8: store.url is ignored when store.engine is sqlite");
}

TEST_F(ConfigTest, LogFileIsAPathBesideTheConfiguration) {
  // Unset: standard error. Relative: beside the file, like every path.
  EXPECT_EQ(must_load(write("plain.yaml", "server:\n  hostname: a.example\n"))
                .get_string("server.log_file"),
            "");
  Config c = must_load(write("log.yaml", "server:\n  log_file: log/postern.log\n"));
  EXPECT_EQ(c.get_string("server.log_file"), dir_.path() + "/log/postern.log");
}

TEST_F(ConfigTest, ExampleFileLoads) {
  std::string path = std::string(POSTERN_SOURCE_DIR) + "/examples/postern.yaml";
  Config c = must_load(path);
  EXPECT_TRUE(c.warnings().empty());
  const auto& ls = c.get_maps("listeners");
  ASSERT_EQ(ls.size(), 6u);
  EXPECT_EQ(ls[0].get_string("address"), "127.0.0.1:2525");
  EXPECT_EQ(ls[5].get_string("mode"), "jmap");
  EXPECT_EQ(c.get_string("server.data_dir"),
            std::filesystem::path(POSTERN_SOURCE_DIR "/var").lexically_normal().string());
  // Every key of the schema appears in the example, set or commented.
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* key :
       {"hostname:", "user:", "data_dir:", "control_socket:", "stop_timeout:", "format:",
        "log_file:", "level:", "servers:", "timeout:", "engine:",
        "path:", "url:", "max_message_size:", "max_recipients:", "auth_requires_tls:", "listeners:",
        "name:", "address:", "mode:", "include:", "max_connections:", "max_connections_per_ip:",
        "max_commands:", "max_errors:", "max_line:", "command_timeout:", "data_timeout:",
        "drain_timeout:", "auth_failures_delay:", "auth_failures_max:", "auth_failures_window:",
        "messages_per_ip_per_minute:", "messages_per_sender_per_minute:", "relay_domains:",
        "bare_lf:", "dmarc:", "dmarc_record:", "trusted_arc_sealers:", "psl:", "metrics:",
        "filters:", "stage:", "builtin:", "exec:", "on_error:", "check:", "send_as:", "listeners:", "login:",
        "addresses:", "certificate:", "key:", "local_trusted_users:", "local_senders:",
        "delivery:", "retry:", "max_lifetime:", "delay_warning:", "max_per_destination:",
        "batch:", "lease:", "poll:", "connection_idle:", "connect_timeout:", "mta_sts:", "dane:",
        "tls_ca_file:", "transports:", "via:", "tls:", "auth_user:",
        "auth_password:", "dkim:", "selector:", "srs:", "secrets:", "max_age:", "tls_rpt:",
        "enabled:", "organization:", "contact:", "from:", "policy:", "report_address:",
        "spam:", "add_header:", "junk:", "reject:", "rules:", "protected_domains:",
        "regex_engine:", "cache_dir:", "bayes:", "bayes_min_learned:", "authserv_ids:",
        "shorteners:", "dnsbl:", "zones:", "score:", "llm:", "model:", "api_key:", "prompt:",
        "max_body_chars:", "pyzor:", "min_count:", "greylist:", "delay:", "retry_window:", "expire:", "auto_allow:"}) {
    EXPECT_CONTAINS(text, (key));
  }
  // And from the schema itself: a new key must come with its line in the example (set
  // or commented), under its own name.
  for (const internal::KeySpec& spec : internal::schema()) {
    std::string_view path = spec.path;
    std::string leaf(path.substr(path.rfind('.') == std::string_view::npos ? 0 : path.rfind('.') + 1));
    if (leaf.ends_with("[]")) leaf.resize(leaf.size() - 2);
    EXPECT_CONTAINS(text, (leaf + ":")) << spec.path;
  }
}

TEST_F(ConfigTest, EffectiveYamlRoundTrips) {
  write("secret", "p$w\n");
  write("multi", "line one\n  line: two # x\n\n");
  write("conf.d/x.yaml", "dns:\n  servers: [\"[::1]:53\", 10.0.0.1:53]\n");
  std::string p = write("postern.yaml",
                        "server:\n"
                        "  user: ${file:secret}\n"
                        "  hostname: \"true\"\n"
                        "dns:\n"
                        "  timeout: 90s\n"
                        "smtp:\n"
                        "  max_message_size: 1536K\n"
                        "listeners:\n"
                        "  - {name: mx, address: \"127.0.0.1:2525\", mode: mx}\n"
                        "  - {name: 'odd: name #1', address: \"[::1]:2143\", mode: imap}\n"
                        "include: conf.d/\n");
  Config a = must_load(p, {"store.url=${file:" + dir_.path() + "/multi}", "log.level=warn"});
  std::string yaml = effective_yaml(a);
  EXPECT_CONTAINS(yaml, ("# include: " + dir_.path() + "/conf.d/ (already merged below)"));
  std::string q = write("effective.yaml", yaml);
  Config b = must_load(q);
  for (const char* k : {"server.hostname", "server.user", "server.data_dir", "log.format",
                        "log.level", "store.engine", "store.path", "store.url"}) {
    EXPECT_EQ(a.get_string(k), b.get_string(k)) << k << "\n" << yaml;
  }
  EXPECT_EQ(b.get_string("server.user"), "p$w");
  EXPECT_EQ(a.get_list("dns.servers"), b.get_list("dns.servers"));
  EXPECT_EQ(a.get_duration("dns.timeout"), b.get_duration("dns.timeout"));
  EXPECT_EQ(a.get_size("smtp.max_message_size"), b.get_size("smtp.max_message_size"));
  EXPECT_EQ(a.get_int("smtp.max_recipients"), b.get_int("smtp.max_recipients"));
  EXPECT_EQ(a.get_bool("smtp.auth_requires_tls"), b.get_bool("smtp.auth_requires_tls"));
  ASSERT_EQ(b.get_maps("listeners").size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    for (const char* k : {"name", "address", "mode"}) {
      EXPECT_EQ(a.get_maps("listeners")[i].get_string(k), b.get_maps("listeners")[i].get_string(k));
    }
  }
  // Defaults round-trip too.
  std::string d = write("defaults.yaml", effective_yaml(defaults()));
  Config c = must_load(d);
  EXPECT_EQ(c.get_string("server.hostname"), machine_hostname());
  EXPECT_TRUE(c.get_maps("listeners").empty());
}

TEST_F(ConfigTest, ScdocMentionsEveryKey) {
  std::string doc = schema_scdoc();
  EXPECT_EQ(doc.rfind("postern.yaml(5)", 0), 0u);
  for (const char* key :
       {"server.hostname", "server.user", "server.data\\_dir", "server.control\\_socket",
        "server.stop\\_timeout", "log.format", "log.level",
        "dns.servers", "dns.timeout", "store.engine", "store.path", "store.url",
        "smtp.max\\_message\\_size", "smtp.max\\_recipients", "smtp.auth\\_requires\\_tls",
        "listeners", "listeners[].name", "listeners[].address", "listeners[].mode", "include",
        "mta\\_sts.mode", "mta\\_sts.max\\_age", "dmarc.policy", "dmarc.report\\_address"}) {
    EXPECT_CONTAINS(doc, (std::string("*") + key + "*")) << key;
  }
  // Every key of the schema has its entry, with its type.
  for (const internal::KeySpec& spec : internal::schema()) {
    EXPECT_CONTAINS(doc, ("*" + internal::scdoc_escape(spec.path) + "* (")) << spec.path;
  }
  EXPECT_CONTAINS(doc, ("text, logfmt, json"));
  EXPECT_CONTAINS(doc, ("Default: *5s*"));
  // The page must get through scdoc, when it is installed.
  if (::access("/usr/bin/scdoc", X_OK) == 0) {
    std::string src = write("postern.yaml.5.scd", doc);
    std::string cmd = "/usr/bin/scdoc < '" + src + "' > '" + dir_.path() + "/out.5' 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << base::read_file(dir_.path() + "/out.5").value_or("");
  }
}

TEST_F(ConfigTest, LogOptionsAndLoader) {
  Config c = must_load("", {"log.level=warn", "log.format=json"});
  base::LogOptions o = log_options(c);
  EXPECT_EQ(o.level, base::LogLevel::kWarn);
  EXPECT_EQ(o.format, base::LogFormat::kJson);

  base::LogOptions saved = base::log_options();
  Config out;
  base::CommonOptions common;
  // No -c: defaults; the terminal keeps text unless log.format is --set.
  common.sets = {"log.level=debug"};
  ASSERT_TRUE(loader(&out)(common));
  EXPECT_EQ(out.get_string("log.level"), "debug");
  EXPECT_EQ(base::log_options().format, base::LogFormat::kText);
  EXPECT_EQ(base::log_options().level, base::LogLevel::kDebug);
  // A file: its log.format applies, unless --log-format asks for something else.
  std::string p = write("postern.yaml", "log:\n  format: json\n");
  common = {};
  common.config_file = p;
  ASSERT_TRUE(loader(&out)(common));
  EXPECT_EQ(base::log_options().format, base::LogFormat::kJson);
  common.log_format = "logfmt";
  common.log_format_given = true;
  ASSERT_TRUE(loader(&out)(common));
  EXPECT_EQ(base::log_options().format, base::LogFormat::kLogfmt);
  // A bad file: an Error with exit code 78 and every diagnostic.
  common.sets = {"log.lvl=1"};
  base::Status st = loader(&out)(common);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), base::ExitCode::kConfig);
  EXPECT_EQ(st.error().message(), "--set log.lvl=1: unknown key log.lvl (did you mean log.level?)");
  base::log_configure(saved);
}

}  // namespace
}  // namespace postern::config
