// Unit tests for lib/admin/check (postern check): every finding where it comes from.
#include "admin/check.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "base/fd.h"
#include "store/store.h"

namespace postern::admin {
namespace {

// A self-signed P-256 certificate valid from now+from_days to now+to_days, and its key.
void make_cert(const std::string& cert_path, const std::string& key_path, long from_days, long to_days) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(key, nullptr);
  X509* x = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400);
  X509_set_pubkey(x, key);
  X509_NAME* n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("mx.example.org"), -1, -1, 0);
  X509_set_issuer_name(x, n);
  ASSERT_GT(X509_sign(x, key, EVP_sha256()), 0);
  FILE* f = std::fopen(cert_path.c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen(key_path.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  chmod(key_path.c_str(), 0600);
  X509_free(x);
  EVP_PKEY_free(key);
}

class AdminCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    chmod(dir_.path().c_str(), 0755);
    make_cert(p("cert.pem"), p("key.pem"), -1, 90);
    auto st = store::Store::open({.url = "sqlite:" + p("store.db"), .blob_dir = p("blobs")});
    ASSERT_TRUE(st) << st.error().message();
  }
  std::string p(const std::string& name) const { return dir_.path() + "/" + name; }
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0644) {
    std::ofstream(p(name)) << text;
    chmod(p(name).c_str(), mode);
    return p(name);
  }
  // A valid configuration; `extra` is appended.
  std::string config(const std::string& extra = "") {
    return write("postern.yaml", "server:\n  hostname: mx.example.org\n  user: " + user_ + "\n  data_dir: " +
                                     dir_.path() + "\nstore:\n  path: " + p("store.db") + "\n  blob_dir: " +
                                     p("blobs") + "\ntls:\n  certificate: " + p("cert.pem") + "\n  key: " +
                                     p("key.pem") + "\n" + extra);
  }
  static std::string all(const std::vector<Finding>& f) {
    std::string s;
    for (const auto& x : f) s += x.str() + "\n";
    return s;
  }
  base::TempDir dir_{"admin-check"};
  std::string user_ = geteuid() == 0 ? "root" : "nobody";
};

TEST_F(AdminCheck, ACleanConfigurationHasNoFindings) {
  auto f = check_config(config(), {}, {});
  EXPECT_TRUE(f.empty()) << all(f);
  EXPECT_FALSE(has_errors(f));
}

TEST_F(AdminCheck, EveryYamlErrorWithItsPosition) {
  std::string path = write("bad.yaml", "server:\n  hostname: x\n  colour: blue\nsmtp:\n  max_recipients: many\n");
  auto f = check_config(path, {}, {});
  ASSERT_EQ(f.size(), 2u) << all(f);
  EXPECT_EQ(f[0].where, path + ":3:3");
  EXPECT_EQ(f[1].where, path + ":5:19");
  EXPECT_TRUE(has_errors(f));
  EXPECT_NE(f[0].str().find(": error: "), std::string::npos);
}

TEST_F(AdminCheck, CertificateAndKeyProblems) {
  make_cert(p("other.pem"), p("otherkey.pem"), -1, 90);
  std::string path = config();
  auto f = check_config(path, {"tls.key=" + p("otherkey.pem")}, {});
  EXPECT_NE(all(f).find("does not match tls.certificate"), std::string::npos) << all(f);
  make_cert(p("old.pem"), p("oldkey.pem"), -30, -1);
  f = check_config(path, {"tls.certificate=" + p("old.pem"), "tls.key=" + p("oldkey.pem")}, {});
  EXPECT_NE(all(f).find("has expired"), std::string::npos) << all(f);
  EXPECT_TRUE(has_errors(f));
  make_cert(p("soon.pem"), p("soonkey.pem"), -30, 5);
  f = check_config(path, {"tls.certificate=" + p("soon.pem"), "tls.key=" + p("soonkey.pem")}, {});
  EXPECT_NE(all(f).find("warning: tls.certificate " + p("soon.pem") + " expires within 14 days"), std::string::npos)
      << all(f);
  EXPECT_FALSE(has_errors(f));
  write("garbage.pem", "not a certificate\n");
  f = check_config(path, {"tls.certificate=" + p("garbage.pem")}, {});
  EXPECT_NE(all(f).find("holds no PEM certificate"), std::string::npos) << all(f);
}

TEST_F(AdminCheck, ABadDkimKeyIsNamedAtItsLine) {
  write("dkim.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0600);
  std::string path = config("delivery:\n  dkim:\n    - domain: example.org\n      selector: s1\n      key: " +
                            p("dkim.key") + "\n");
  auto f = check_config(path, {}, {});
  ASSERT_TRUE(has_errors(f)) << all(f);
  EXPECT_NE(all(f).find(path + ":15:12: error: DKIM key " + p("dkim.key")), std::string::npos) << all(f);
}

TEST_F(AdminCheck, LooseModes) {
  chmod(p("key.pem").c_str(), 0644);
  std::string path = config();
  auto f = check_config(path, {}, {});
  EXPECT_NE(all(f).find("warning: tls.key " + p("key.pem") + " may be read by anyone"), std::string::npos) << all(f);
  EXPECT_FALSE(has_errors(f));
  chmod(path.c_str(), 0666);
  f = check_config(path, {}, {});
  EXPECT_NE(all(f).find(path + ": error: the configuration " + path + " may be written by anyone"),
            std::string::npos)
      << all(f);
  // A new store is made 0640; one opened up to everyone is named like a key.
  struct stat st {};
  ASSERT_EQ(stat(p("store.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(all(check_config(path, {}, {})).find("the store"), std::string::npos);
  chmod(p("store.db").c_str(), 0644);
  f = check_config(path, {}, {});
  EXPECT_NE(all(f).find("warning: the store " + p("store.db") + " may be read by anyone"), std::string::npos) << all(f);
  // Off: nothing about modes.
  EXPECT_TRUE(check_config(path, {}, {.permissions = false}).empty());
}

TEST_F(AdminCheck, AStoreThatCannotBeOpened) {
  std::string path = config();
  auto f = check_config(path, {"store.path=" + p("nowhere/store.db")}, {});
  ASSERT_TRUE(has_errors(f)) << all(f);
  EXPECT_NE(all(f).find("--set store.path=" + p("nowhere/store.db") + ": error: the store cannot be opened"),
            std::string::npos)
      << all(f);
  EXPECT_FALSE(has_errors(check_config(path, {"store.path=" + p("nowhere/store.db")}, {.store = false})));
}

TEST_F(AdminCheck, FilesTheServiceUserCannotRead) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (reads as another user)";
  std::filesystem::create_directories(p("private"));
  chmod(p("private").c_str(), 0700);
  make_cert(p("private/cert.pem"), p("private/key.pem"), -1, 90);
  std::string path = config();
  auto f = check_config(path, {"server.user=nobody", "tls.certificate=" + p("private/cert.pem"),
                               "tls.key=" + p("private/key.pem")},
                        {});
  EXPECT_NE(all(f).find("tls.key " + p("private/key.pem") + " cannot be read by server.user nobody"),
            std::string::npos)
      << all(f);
  EXPECT_NE(all(f).find("tls.certificate " + p("private/cert.pem") + " cannot be read by server.user nobody"),
            std::string::npos)
      << all(f);
  // A store outside data_dir that the user cannot write.
  std::filesystem::create_directories(p("rootonly"));
  chmod(p("rootonly").c_str(), 0755);
  ASSERT_TRUE(store::Store::open({.url = "sqlite:" + p("rootonly/s.db"), .blob_dir = p("rootonly/blobs")}));
  f = check_config(path, {"server.user=nobody", "store.path=" + p("rootonly/s.db"), "store.blob_dir=" + p("rootonly/blobs")},
                   {});
  EXPECT_NE(all(f).find("the store " + p("rootonly") + " cannot be written by server.user nobody"), std::string::npos)
      << all(f);
  f = check_config(path, {"server.user=no-such-user-here"}, {});
  EXPECT_NE(all(f).find("server.user no-such-user-here does not exist"), std::string::npos) << all(f);
}

}  // namespace
}  // namespace postern::admin
