// The Sender Rewriting Scheme: when mail to one of our addresses is forwarded to an outside
// address, the envelope sender is rewritten into our own domain so the destination's SPF
// check passes, and a bounce to the rewritten address can be routed back to the original
// sender. The address is signed and dated, so nobody can use our domain as an open bounce
// relay. This is the common SRS0/SRS1 form that libsrs2, postsrsd and Exim use:
//
//   SRS0=HHHH=TT=orig-domain=orig-local@our-domain
//   SRS1=HHHH=first-forwarder==HHHH=TT=orig-domain=orig-local@our-domain
//
// HHHH is the first 4 characters of base64(HMAC-SHA1(secret, lower-cased
// timestamp + domain + local)) (SRS1: + forwarder + the SRS0 rest), compared without regard
// to case on the way back; TT is the day number modulo 1024 in two base32 characters.
// Forwarding an SRS0 address makes an SRS1 address that points (signed by us) at the
// forwarder that made the SRS0, so a bounce goes there and not through every hop.
//
//   srs::Options o{.secrets = {"new secret", "old secret"}, .domain = "fwd.example"};
//   auto rewritten = srs::forward("ann@example.org", o, now);
//   // "SRS0=Xy3Q=2B=example.org=ann@fwd.example"
//   auto back = srs::reverse(*rewritten, o, now);  // "ann@example.org"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::mail::srs {

struct Options {
  std::vector<std::string> secrets;  // the first signs, all verify (rotation)
  int max_age_days = 21;             // older addresses are refused on the way back
  std::string domain;                // our rewriting domain
};

// The sender rewritten into o.domain. "" (the null sender) stays ""; a sender already in
// o.domain is returned as it is; an SRS0/SRS1 sender becomes SRS1. Error (config) with no
// secret or no domain; Error (bad_data) for a sender without '@'.
base::Result<std::string> forward(std::string_view sender, const Options& o, int64_t now);

// An SRS address back to the original sender (SRS0) or to the SRS0 address at the first
// forwarder (SRS1). Error (bad_data) for a bad hash, an expired timestamp, or an address
// that is not SRS.
base::Result<std::string> reverse(std::string_view address, const Options& o, int64_t now);

// The local part starts with "SRS0" or "SRS1" (any case) and a separator ('=', '+', '-').
bool is_srs(std::string_view local_part);

}  // namespace postern::mail::srs
