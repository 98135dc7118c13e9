// libFuzzer target for the header-value parsers (lib/mail/header.h) and the writer's
// round trip. The first byte selects nothing: every parser sees every input, so one
// corpus covers them all.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mail/charset.h"
#include "mail/header.h"
#include "mail/writer.h"

using namespace postern::mail;

namespace {

void check_utf8(const std::string& s) {
  if (!is_valid_utf8(s)) __builtin_trap();  // header.h promises valid UTF-8
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  for (const auto& a : parse_address_list(in).flatten()) {
    if (a.name) check_utf8(*a.name);
    if (a.address) check_utf8(*a.address);
    (void)format_address(a);
  }
  const ContentType ct = parse_content_type(in);
  for (const auto& [k, v] : ct.params) check_utf8(v);
  (void)ct.param("charset");
  if (auto d = parse_date(in)) {
    (void)d->to_unix();
    (void)d->to_rfc3339();
  }
  const std::string text = decode_unstructured(in);
  check_utf8(text);
  check_utf8(decode_encoded_words(in));
  (void)unfold(in);
  for (const auto& id : parse_message_ids(in)) check_utf8(id);
  for (const auto& item : parse_comma_list(in)) check_utf8(item);
  (void)parse_received(in);

  // Writer: encoded output is ASCII (or the caller's text when it was plain ASCII) and
  // reads back as valid UTF-8.
  const std::string enc = encode_header_value(text, 7);
  check_utf8(decode_unstructured(enc));
  (void)fold_header("Subject", enc);
  if (size > 2) {
    (void)to_utf8(in.substr(2), std::string_view(in.data(), 2) == "\x01\x02" ? "utf-7" : "gb2312");
  }
  return 0;
}
