// One outbound HTTP(S) request through libcurl, with the host name resolved through
// lib/dns (never libcurl's system resolver: DNSSEC, the configured servers, the test zone
// file reach it as CURLOPT_RESOLVE entries). Shared by the MTA-STS policy fetch (RFC 8461
// 3.3), the TLS-RPT report upload (RFC 8460 5.2) and the LLM classifier (lib/spam/llm.h).
// Blocking; call it from a worker thread, with a Resolver that thread owns.
//
//   dns::http::Request rq{.host = "mta-sts.example.org", .path = "/.well-known/mta-sts.txt"};
//   auto r = dns::http::perform(resolver, rq);
//   if (r && r->status == 200) use(r->body);
//
//   auto rq = dns::http::parse_url("http://127.0.0.1:8080/v1/chat/completions",
//                                  {.allow_http = true});
//   rq->method = "POST";
//   rq->headers = {"Authorization: Bearer " + key};
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "dns/dns.h"

namespace postern::dns::http {

struct Request {
  std::string host;  // a DNS name, or an IP address literal (IPv6 without brackets)
  uint16_t port = 443;
  bool tls = true;             // https (certificate checked by PKIX) or, when false, plain http
  std::string path = "/";      // with the query, if any
  std::string method = "GET";  // "GET" or "POST"
  std::string body;            // POST
  std::string content_type;    // POST; "" = application/octet-stream
  std::vector<std::string> headers;  // extra "Name: value" lines (Authorization, Accept, ...)
  std::string ca_file;               // "" = the system's trust store
  std::chrono::milliseconds timeout{20000};  // whole transfer, connect included
  size_t max_body = 64 * 1024;               // a larger response fails
  std::string user_agent = "postern";
};

struct Response {
  long status = 0;
  std::string content_type;  // as sent, parameters included
  std::string body;
};

// The response, whatever its status (redirects are never followed). Error::temporary for
// a host without an address, a connection or TLS failure (the certificate must be valid
// for the host by PKIX), a timeout, a body larger than max_body. Error messages name the
// URL, never the extra headers (they may carry credentials).
base::Result<Response> perform(dns::Resolver& resolver, const Request& request);

struct UrlOptions {
  bool allow_http = false;  // accept http: as well as https:
};

// "https://host[:port]/path" (and "http://..." when allowed) → host, port, tls, path;
// bad_data for anything else (another scheme, user info, an empty host, a bad port).
base::Result<Request> parse_url(std::string_view url, UrlOptions options = {});

// The URL a request goes to: "https://host[:port]/path" (the port only when not the
// scheme's default; an IPv6 host in brackets).
std::string url_of(const Request& request);

}  // namespace postern::dns::http
