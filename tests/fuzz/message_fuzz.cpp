// libFuzzer target: the full message parse, body decoding of every part, text extraction,
// HTML conversion and the JSON rendering. Seed corpus: tests/fuzz/corpus/message/.
#include <cstddef>
#include <cstdint>
#include <string>

#include "mail/html.h"
#include "mail/message.h"
#include "mail/message_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string raw(reinterpret_cast<const char*>(data), size);
  auto msg = postern::mail::Message::parse(std::move(raw));
  if (!msg) return 0;
  size_t total = 0;
  for (const auto& p : msg->parts()) {
    total += msg->raw_headers(p).size() + msg->raw_body(p).size() + msg->raw_part(p).size();
    total += msg->decoded_body(p).size() + msg->text(p).size() + msg->filename(p).size();
    if (p.kind == postern::mail::PartKind::kHtml) {
      total += postern::mail::html_to_text(msg->text(p)).size();
    }
    for (const auto& f : msg->headers(p)) {
      total += msg->field_name(p, f).size() + msg->field_value(p, f).size();
    }
    if (msg->find(p.id) == nullptr) __builtin_trap();  // every id resolves
  }
  total += msg->extract_text().size();
  total += postern::mail::message_json(*msg, {.file = "fuzz", .pretty = (size & 1) != 0}).size();
  return total == static_cast<size_t>(-1) ? 1 : 0;
}
