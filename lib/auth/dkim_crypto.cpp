// DKIM keys and signatures through OpenSSL EVP: RSASSA-PKCS1-v1_5 with SHA-1/SHA-256
// (RFC 6376 3.3.1, 3.3.2) and Ed25519 over the SHA-256 of the data (RFC 8463 3).
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "auth/dkim.h"
#include "auth/dkim_internal.h"

namespace postern::auth::dkim {

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using Bio = std::unique_ptr<BIO, BioFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

Pkey parse_public(std::string_view key_type, std::string_view der) {
  if (key_type == "ed25519") {
    if (der.size() != 32) return nullptr;  // RFC 8463 4: the raw key, not SPKI
    return Pkey(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(der.data()), 32));
  }
  // RFC 6376 3.6.1: an RSA SubjectPublicKeyInfo; a bare PKCS#1 RSAPublicKey is tolerated.
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  Pkey key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (!key) {
    ERR_clear_error();
    p = reinterpret_cast<const unsigned char*>(der.data());
    key.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(der.size())));
  }
  ERR_clear_error();
  if (key && EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) return nullptr;
  return key;
}

// parse_public through a small per-thread cache: a verifier meets the same few keys over
// and over, and decoding one (OpenSSL's decoder lookup) costs more than an RSA
// verification. Per thread, so no lock and no key shared between threads; keys that do
// not parse are not kept.
Pkey cached_public(std::string_view key_type, std::string_view der) {
  struct Entry {
    std::string key_type;
    std::string der;
    Pkey key;
  };
  constexpr size_t kEntries = 16;
  thread_local std::vector<Entry> cache;  // oldest first
  for (const Entry& e : cache) {
    if (e.der == der && e.key_type == key_type) {
      EVP_PKEY_up_ref(e.key.get());
      return Pkey(e.key.get());
    }
  }
  Pkey key = parse_public(key_type, der);
  if (!key) return nullptr;
  if (cache.size() == kEntries) cache.erase(cache.begin());
  EVP_PKEY_up_ref(key.get());
  cache.push_back({std::string(key_type), std::string(der), Pkey(key.get())});
  return key;
}

}  // namespace

struct PrivateKey::Impl {
  Pkey key;
};

bool PrivateKey::is_ed25519() const {
  return EVP_PKEY_get_base_id(impl_->key.get()) == EVP_PKEY_ED25519;
}

int PrivateKey::bits() const { return EVP_PKEY_get_bits(impl_->key.get()); }

std::string PrivateKey::public_key_record() const {
  if (is_ed25519()) {
    unsigned char raw[32];
    size_t len = sizeof raw;
    EVP_PKEY_get_raw_public_key(impl_->key.get(), raw, &len);
    return std::string(reinterpret_cast<char*>(raw), len);
  }
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(impl_->key.get(), &der);
  if (len <= 0) return {};
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string PrivateKey::to_pem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PKCS8PrivateKey(bio.get(), impl_->key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

base::Result<PrivateKey> load_private_key(std::string_view text) {
  if (text.find("-----BEGIN") != std::string_view::npos) {
    Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key) return base::Error::bad_data("cannot read private key: " + openssl_error());
    int id = EVP_PKEY_get_base_id(key.get());
    if (id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519) {
      return base::Error::bad_data("private key is neither RSA nor Ed25519");
    }
    auto impl = std::make_shared<PrivateKey::Impl>();
    impl->key = std::move(key);
    return PrivateKey(std::move(impl));
  }
  // RFC 8463 A.1 / RFC 8032 7.1: the 32-byte Ed25519 secret (seed), base64.
  auto seed = base64_decode(text);
  if (!seed || seed->size() != 32) {
    return base::Error::bad_data("private key is neither PEM nor a base64 Ed25519 seed");
  }
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                        reinterpret_cast<const unsigned char*>(seed->data()), 32));
  if (!key) return base::Error::bad_data("bad Ed25519 seed: " + openssl_error());
  auto impl = std::make_shared<PrivateKey::Impl>();
  impl->key = std::move(key);
  return PrivateKey(std::move(impl));
}

base::Result<PrivateKey> generate_key(bool ed25519, int bits) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_id(ed25519 ? EVP_PKEY_ED25519 : EVP_PKEY_RSA, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0) {
    return base::Error::internal("key generation: " + openssl_error());
  }
  if (!ed25519 && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), bits) <= 0) {
    return base::Error::usage("key generation: bad RSA size: " + openssl_error());
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &raw) <= 0) {
    return base::Error::internal("key generation: " + openssl_error());
  }
  auto impl = std::make_shared<PrivateKey::Impl>();
  impl->key.reset(raw);
  return PrivateKey(std::move(impl));
}

base::Result<std::string> sign_data(const PrivateKey& key, Algorithm a, std::string_view data) {
  EVP_PKEY* pkey = key.impl().key.get();
  bool ed = key.is_ed25519();
  if (ed != (a == Algorithm::kEd25519Sha256)) {
    return base::Error::usage("key type does not match the signing algorithm");
  }
  MdCtx ctx(EVP_MD_CTX_new());
  std::string input;
  const EVP_MD* md = nullptr;
  if (ed) {
    input = sha256(data);  // RFC 8463 3: Ed25519 signs the SHA-256 hash
  } else {
    input.assign(data);
    md = a == Algorithm::kRsaSha1 ? EVP_sha1() : EVP_sha256();
  }
  if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, pkey) <= 0) {
    return base::Error::internal("sign: " + openssl_error());
  }
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size()) <= 0) {
    return base::Error::internal("sign: " + openssl_error());
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                     input.size()) <= 0) {
    return base::Error::internal("sign: " + openssl_error());
  }
  sig.resize(len);
  return sig;
}

PublicKeyInfo inspect_public_key(std::string_view key_type, std::string_view der) {
  PublicKeyInfo info;
  Pkey key = cached_public(key_type, der);
  if (!key) {
    info.error = key_type == "ed25519" ? "Ed25519 key is not 32 bytes" : "cannot parse RSA key";
    return info;
  }
  info.ok = true;
  info.bits = EVP_PKEY_get_bits(key.get());
  return info;
}

bool verify_data(std::string_view key_type, std::string_view der, Algorithm a,
                 std::string_view data, std::string_view sig) {
  Pkey key = cached_public(key_type, der);
  if (!key) return false;
  MdCtx ctx(EVP_MD_CTX_new());
  std::string input;
  const EVP_MD* md = nullptr;
  if (a == Algorithm::kEd25519Sha256) {
    input = sha256(data);
  } else {
    input.assign(data);
    md = a == Algorithm::kRsaSha1 ? EVP_sha1() : EVP_sha256();
  }
  bool ok =
      EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.get()) > 0 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace postern::auth::dkim
