// libFuzzer target for the mailbox file formats (lib/mail/mbox.h, lib/mail/maildir.h):
// every parser sees every input, and the round trips that must hold are checked.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mail/maildir.h"
#include "mail/mbox.h"

namespace mbox = postern::mail::mbox;
namespace maildir = postern::mail::maildir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  // mboxrd quoting is reversible for any bytes.
  if (mbox::unquote(mbox::quote(in)) != in) __builtin_trap();
  for (auto& m : mbox::split(in)) {
    (void)mbox::format_message(m.sender, m.received_at, m.keywords, m.bytes);
  }
  (void)mbox::parse_from_line_date(in);

  // Modified UTF-7: what encodes decodes back; what decodes re-encodes to the same text.
  if (auto enc = maildir::encode_mutf7(in, ".")) {
    auto dec = maildir::decode_mutf7(*enc);
    if (!dec || *dec != in) __builtin_trap();
  }
  if (auto dec = maildir::decode_mutf7(in)) {
    if (auto enc = maildir::encode_mutf7(*dec)) {
      auto again = maildir::decode_mutf7(*enc);
      if (!again || *again != *dec) __builtin_trap();
    }
  }
  if (auto path = maildir::folder_path(in)) {
    auto name = maildir::folder_dir_name(*path);
    if (!name || maildir::folder_path(*name).value_or("") != *path) __builtin_trap();
  }

  auto name = maildir::parse_filename(in);
  auto table = maildir::KeywordTable::parse(in);
  auto keywords = maildir::keywords_of(name, table, false);
  (void)maildir::flags_for(keywords, table);
  return 0;
}
