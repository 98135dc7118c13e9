// libFuzzer target for the SMTP command parsers (lib/smtp/command.h): one command line,
// MAIL FROM and RCPT TO arguments with every extension offered, xtext and replies. Every
// parser sees every input, so one corpus covers them all.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "smtp/command.h"

using namespace postern::smtp;

namespace {

constexpr Offered kAll{.size = true,
                       .eightbitmime = true,
                       .binarymime = true,
                       .smtputf8 = true,
                       .dsn = true,
                       .requiretls = true,
                       .auth = true,
                       .max_size = 1 << 20};

void check_reply(const std::string& r) {
  // A reply is one or more CRLF-terminated lines, with no bare CR or LF inside.
  if (r.size() < 5 || r.compare(r.size() - 2, 2, "\r\n") != 0) __builtin_trap();
  for (size_t i = 0; i < r.size(); ++i) {
    if (r[i] == '\r' && (i + 1 >= r.size() || r[i + 1] != '\n')) __builtin_trap();
    if (r[i] == '\n' && (i == 0 || r[i - 1] != '\r')) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  const Command c = parse_command(in);
  (void)parse_mail(c.arg, kAll);
  (void)parse_rcpt(c.arg, kAll);
  (void)parse_mail(c.arg, Offered{});

  for (std::string_view arg : {in, std::string_view(c.arg)}) {
    if (auto m = parse_mail(arg, kAll)) {
      // An accepted sender is empty or a valid mailbox.
      if (!m->sender.empty() && !valid_mailbox(m->sender, m->smtputf8)) __builtin_trap();
      if (m->size && *m->size > kAll.max_size) __builtin_trap();
    } else {
      check_reply(format_reply(m.error()));
    }
    if (auto r = parse_rcpt(arg, kAll)) {
      if (r->address.empty()) __builtin_trap();
    } else {
      check_reply(format_reply(r.error()));
    }
  }
  (void)valid_mailbox(in, true);
  (void)valid_mailbox(in, false);

  // xtext: decoding what was encoded gives the input back.
  if (auto d = xtext_decode(in)) (void)xtext_encode(*d);
  if (xtext_decode(xtext_encode(in)) != std::string(in)) __builtin_trap();

  check_reply(format_reply(250, "2.0.0", in));
  return 0;
}
