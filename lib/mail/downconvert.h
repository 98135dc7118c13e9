// 8BITMIME down-conversion (RFC 6152 3, RFC 1652 4): when the next hop does not offer
// 8BITMIME, an 8-bit message may still be relayed once every 8-bit body part is re-encoded
// into 7-bit form. Each leaf part whose body holds 8-bit bytes (or NULs, or lines over 998
// octets) under Content-Transfer-Encoding 8bit, binary or none is re-encoded:
// quoted-printable for text/*, base64 for everything else, and its
// Content-Transfer-Encoding field set to match; enclosing multiparts and message/rfc822
// parts labelled 8bit/binary are relabelled 7bit. The multipart structure, the boundaries,
// and every other header field stay byte for byte. A message/global part (RFC 6532 3.7)
// with 8-bit content is base64-encoded whole.
//
// What cannot be converted is refused with Error (bad_data), so the caller bounces the
// recipient instead of sending broken mail: 8-bit bytes in a header (those need SMTPUTF8,
// and rewriting header fields is not this function's business), 8-bit bytes outside any
// body part (a preamble or epilogue), 8-bit content in a part that may not be encoded
// (multipart/*, message/rfc822 that does not parse), or a base64 body with 8-bit bytes.
//
// Down-conversion changes the signed body and Content-Transfer-Encoding fields, so a DKIM
// signature made over the 8-bit form no longer verifies at the destination (RFC 6376 5.3
// asks signers to convert to 7-bit before signing for this reason). Sign after converting,
// or accept the broken signature for that hop.
//
//   if (!peer_has_8bitmime && !mail::is_7bit(message)) {
//     auto seven = mail::downconvert_8bit(message);
//     if (!seven) return bounce(seven.error());   // 5.6.3 conversion required but not supported
//     message = std::move(*seven);
//   }
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace postern::mail {

// The message with every 8-bit body part re-encoded (see above); the input unchanged when
// it is 7-bit already. Line ends follow the input (CRLF or LF).
base::Result<std::string> downconvert_8bit(std::string_view message);

// Whether the message is 7-bit data as RFC 2045 2.7 defines it and so may be sent without
// 8BITMIME: no byte over 127, no NUL, no line over 998 octets (line end excluded).
bool is_7bit(std::string_view message);

}  // namespace postern::mail
