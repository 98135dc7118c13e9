// One HTTPS request through libcurl, with the host name resolved through lib/dns (never
// libcurl's system resolver: DNSSEC, the configured servers, the test zone file reach it
// as CURLOPT_RESOLVE entries). Internal to lib/smtp: the MTA-STS policy fetch (RFC 8461
// 3.3) and the TLS-RPT report upload (RFC 8460 5.2) share it. Blocking; call it from a
// worker thread, with a Resolver that thread owns.
//
//   smtp::https::Request rq{.host = "mta-sts.example.org", .path = "/.well-known/mta-sts.txt"};
//   auto r = smtp::https::perform(resolver, rq);
//   if (r && r->status == 200) use(r->body);
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "base/result.h"
#include "dns/dns.h"

namespace postern::smtp::https {

struct Request {
  std::string host;  // a DNS name, or an IP address literal (IPv6 without brackets)
  uint16_t port = 443;
  std::string path = "/";  // with the query, if any
  std::string method = "GET";  // "GET" or "POST"
  std::string body;            // POST
  std::string content_type;    // POST
  std::string ca_file;         // "" = the system's trust store
  std::chrono::milliseconds timeout{20000};  // whole transfer, connect included
  size_t max_body = 64 * 1024;  // a larger response fails
  std::string user_agent = "postern";
};

struct Response {
  long status = 0;
  std::string content_type;  // as sent, parameters included
  std::string body;
};

// The response, whatever its status (redirects are never followed). Error::temporary for
// a host without an address, a connection or TLS failure (the certificate must be valid
// for the host by PKIX), a timeout, a body larger than max_body.
base::Result<Response> perform(dns::Resolver& resolver, const Request& request);

// "https://host[:port]/path" → host, port, path; bad_data for anything else (http:,
// user info, an empty host).
base::Result<Request> parse_url(std::string_view url);

}  // namespace postern::smtp::https
