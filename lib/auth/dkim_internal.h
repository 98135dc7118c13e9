// Internals shared by the dkim*.cpp files (not part of the public API).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/dkim.h"

namespace postern::mail {
class Message;
}  // namespace postern::mail

namespace postern::auth::dkim {

// One header field of the message: raw bytes (name through the final CRLF).
struct RawField {
  std::string_view name;
  std::string_view raw;
};

// The header fields and body of a CRLF message, from mail::Message's index.
struct SplitMessage {
  std::shared_ptr<const mail::Message> owner;  // holds the bytes the views point into
  std::string_view bytes;                      // the whole message, CRLF form
  std::vector<RawField> fields;
  std::string_view body;
};
base::Result<SplitMessage> split_message(std::string_view message);
// The same, taking over the bytes (no copy when they are CRLF already).
base::Result<SplitMessage> split_message(std::string&& message);

// RFC 6376 5.4.2: the canonicalized header data for h= (bottom-up selection, listed more
// often than present = nothing), followed by the signature field with b= emptied,
// canonicalized, without its trailing CRLF.
std::string header_hash_input(const SplitMessage& m, const std::vector<std::string>& h, Canon c,
                              std::string_view signature_field);

// The field with the value of its b= tag removed (RFC 6376 3.5 b=, 3.7).
std::string strip_b_value(std::string_view field);

// Crypto (OpenSSL EVP). `data` is the header hash input.
base::Result<std::string> sign_data(const PrivateKey& key, Algorithm a, std::string_view data);

struct PublicKeyInfo {
  bool ok = false;
  int bits = 0;
  std::string error;
};
// Checks `der` as a key of `key_type` ("rsa" or "ed25519").
PublicKeyInfo inspect_public_key(std::string_view key_type, std::string_view der);
// True when `sig` is a valid signature of `data` by the key.
bool verify_data(std::string_view key_type, std::string_view der, Algorithm a,
                 std::string_view data, std::string_view sig);

}  // namespace postern::auth::dkim
