// The LLM classifier: asks an OpenAI-compatible chat-completions endpoint what a message
// is, and reads the answer as a category and a confidence. Optional and off by default.
//
// One POST to {url}/chat/completions (http or https, through lib/dns/http_client.h):
// the system prompt, then the message as a user turn (From, To, Subject, the body text
// cut to max_body_chars, the URLs) between two marker lines that occur nowhere in it and
// that the prompt names as the bounds of untrusted data; temperature 0, a JSON object
// asked for. The answer's `{"category", "confidence", "reason"}` is read from
// choices[0].message.content, code fences and text around the object tolerated.
//
// A caller on the delivery path treats every error as "no verdict": a timeout, a refused
// connection, an HTTP error or an answer it cannot read never blocks or fails delivery.
//
//   spam::LlmSettings s{.enabled = true, .url = "http://127.0.0.1:8080/v1",
//                       .model = "gpt-4o-mini", .api_key = key};
//   auto v = spam::llm_classify(resolver, s, {.from = from, .subject = subj, .text = body});
//   if (v && v->category == "phishing" && v->confidence >= 0.8) score += 6;
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "dns/dns.h"

namespace postern::spam {

struct LlmSettings {
  bool enabled = false;
  std::string url;  // base URL, e.g. "http://127.0.0.1:8080/v1" -> POST {url}/chat/completions
  std::string model;
  std::string api_key;  // already resolved from ${env:}/${file:} by lib/config; "" = none sent
  // The system prompt; "" = the built-in default (llm::default_prompt()). "{marker}" in it
  // becomes the line that bounds the message; a prompt without it gets one sentence
  // appended that names the marker. It must ask for the JSON object described above.
  std::string prompt;
  std::chrono::milliseconds timeout{8000};  // the whole request, connect included
  size_t max_body_chars = 6000;             // bytes of body text sent, cut at a UTF-8 boundary
  std::string ca_file;                      // "" = the system's trust store
};

struct LlmInput {
  std::string from, to, subject;
  std::string text;  // the body as text (UTF-8; invalid sequences are replaced)
  std::vector<std::string> urls;
};

struct LlmVerdict {
  std::string category;   // "ham", "spam", "phishing", "malware" or "scam"
  double confidence = 0;  // 0..1
  std::string reason;     // the model's words, at most 300 bytes, one line
};

// Classifies one message. Errors: config (disabled, no URL or model, a bad URL);
// temporary (no address, connection refused, timeout, HTTP 429 and 5xx); unavailable
// (other HTTP 4xx: a wrong key or model), with the server's error.message when it sent
// one; bad_data (an answer without a usable verdict). Never throws.
base::Result<LlmVerdict> llm_classify(dns::Resolver& resolver, const LlmSettings& settings,
                                      const LlmInput& input);

namespace llm {

// The categories, in the order the prompt lists them.
inline constexpr std::string_view kCategories[] = {"ham", "spam", "phishing", "malware", "scam"};

// The built-in system prompt (with "{marker}").
std::string_view default_prompt();

// One of kCategories for a model's word: case, white space, '_'/'-' ignored, common
// synonyms mapped ("legitimate" → ham, "junk" → spam, "fraud" → scam, "virus" →
// malware, "phish" → phishing...); nullopt for anything else.
std::optional<std::string> normalize_category(std::string_view word);

// The longest prefix of s of at most max_bytes that does not end inside a UTF-8 sequence.
std::string_view truncate_utf8(std::string_view s, size_t max_bytes);

// The line that bounds the message in the user turn: "EMAIL-" and 16 hex digits derived
// from the text (so a run is reproducible), never a substring of it.
std::string marker_for(std::string_view text);

// The request body (JSON) llm_classify sends.
std::string request_body(const LlmSettings& settings, const LlmInput& input);

// The verdict in a model's answer text: the first JSON object in it that has a category
// (code fences and prose around it tolerated). bad_data for no object, an unknown
// category, a missing or out-of-range confidence (a number 0..1, or a percentage 1..100).
base::Result<LlmVerdict> parse_verdict(std::string_view content);

// The verdict in a chat-completions response body (choices[0].message.content).
base::Result<LlmVerdict> parse_completion(std::string_view body);

}  // namespace llm

}  // namespace postern::spam
