// One HTTP(S) request through libcurl, names resolved through lib/dns (http_client.h).
#include "dns/http_client.h"

#include <curl/curl.h>

#include <cctype>
#include <mutex>
#include <vector>

#include "base/task.h"

namespace postern::dns::http {

namespace {

std::once_flag curl_once;

void curl_init() {
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Body {
  std::string data;
  size_t max = 0;
  bool too_big = false;
};

size_t on_data(char* ptr, size_t size, size_t n, void* user) {
  auto* body = static_cast<Body*>(user);
  size_t len = size * n;
  if (body->data.size() + len > body->max) {
    body->too_big = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  body->data.append(ptr, len);
  return len;
}

struct CurlEasy {
  CURL* h = curl_easy_init();
  curl_slist* resolve = nullptr;
  curl_slist* headers = nullptr;
  ~CurlEasy() {
    if (h) curl_easy_cleanup(h);
    if (resolve) curl_slist_free_all(resolve);
    if (headers) curl_slist_free_all(headers);
  }
};

base::Task<std::vector<std::string>> host_addresses(dns::Resolver& r, std::string host,
                                                    std::string* why) {
  std::vector<std::string> out;
  for (dns::RrType t : {dns::RrType::kA, dns::RrType::kAaaa}) {
    dns::Answer a = co_await r.lookup(host, t);
    if (!a.definite() && why->empty()) {
      *why = std::string(dns::type_name(t)) + " lookup of " + host + ": " +
             std::string(dns::status_name(a.status));
    }
    for (const auto& rec : a.records) {
      if (rec.type == t) out.push_back(t == dns::RrType::kAaaa ? "[" + rec.text + "]" : rec.text);
    }
  }
  co_return out;
}

bool is_ip_literal(const std::string& h) {
  if (h.find(':') != std::string::npos) return true;  // IPv6
  return !h.empty() && h.find_first_not_of("0123456789.") == std::string::npos;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

}  // namespace

std::string url_of(const Request& rq) {
  const uint16_t default_port = rq.tls ? 443 : 80;
  std::string host = rq.host.find(':') != std::string::npos ? "[" + rq.host + "]" : rq.host;
  return (rq.tls ? "https://" : "http://") + host +
         (rq.port == default_port ? "" : ":" + std::to_string(rq.port)) + rq.path;
}

base::Result<Request> parse_url(std::string_view url, UrlOptions options) {
  Request r;
  std::string_view rest;
  if (starts_with_nocase(url, "https://")) {
    rest = url.substr(8);
  } else if (options.allow_http && starts_with_nocase(url, "http://")) {
    rest = url.substr(7);
    r.tls = false;
    r.port = 80;
  } else {
    return base::Error::bad_data(std::string(options.allow_http ? "not an http: or https: URL: "
                                                                : "not an https: URL: ") +
                                 std::string(url));
  }
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  r.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (!r.path.empty() && r.path[0] != '/') r.path = "/" + r.path;
  if (size_t hash = r.path.find('#'); hash != std::string::npos) r.path.resize(hash);
  if (authority.find('@') != std::string_view::npos) {
    return base::Error::bad_data("user information in URL: " + std::string(url));
  }
  std::string_view host = authority, port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return base::Error::bad_data("bad IPv6 literal in " + std::string(url));
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return base::Error::bad_data("bad authority in " + std::string(url));
      port = authority.substr(close + 2);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return base::Error::bad_data("no host in " + std::string(url));
  r.host = std::string(host);
  if (!port.empty()) {
    unsigned long p = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || p > 65535) return base::Error::bad_data("bad port in " + std::string(url));
      p = p * 10 + static_cast<unsigned long>(c - '0');
    }
    if (p == 0 || p > 65535) return base::Error::bad_data("bad port in " + std::string(url));
    r.port = static_cast<uint16_t>(p);
  }
  return r;
}

base::Result<Response> perform(dns::Resolver& resolver, const Request& rq) {
  for (const std::string& h : rq.headers) {
    // One header line each: a CR or LF inside would smuggle another header or request.
    if (h.find_first_of("\r\n") != std::string::npos || h.find(':') == std::string::npos) {
      return base::Error::internal("bad extra HTTP header for " + url_of(rq));
    }
  }
  const bool literal = is_ip_literal(rq.host);
  std::vector<std::string> addrs;
  if (!literal) {
    std::string why;
    auto task = host_addresses(resolver, rq.host, &why);
    addrs = dns::run(resolver, task);
    if (addrs.empty()) {
      return base::Error::temporary((rq.tls ? "HTTPS host " : "HTTP host ") + rq.host +
                                    " has no address" +
                                    (why.empty() ? "" : ": " + why));
    }
  }
  curl_init();
  CurlEasy c;
  if (!c.h) return base::Error::temporary("curl_easy_init failed");
  std::string port = std::to_string(rq.port);
  if (!literal) {
    std::string entry = rq.host + ":" + port + ":";
    for (size_t i = 0; i < addrs.size(); ++i) entry += (i ? "," : "") + addrs[i];
    c.resolve = curl_slist_append(nullptr, entry.c_str());
    curl_easy_setopt(c.h, CURLOPT_RESOLVE, c.resolve);
  }
  std::string url = url_of(rq);
  Body body;
  body.max = rq.max_body;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c.h, CURLOPT_URL, url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(c.h, CURLOPT_PROTOCOLS_STR, rq.tls ? "https" : "http");
#else
  curl_easy_setopt(c.h, CURLOPT_PROTOCOLS,
                   static_cast<long>(rq.tls ? CURLPROTO_HTTPS : CURLPROTO_HTTP));
#endif
  curl_easy_setopt(c.h, CURLOPT_FOLLOWLOCATION, 0L);  // never: the caller decides
  curl_easy_setopt(c.h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c.h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!rq.ca_file.empty()) curl_easy_setopt(c.h, CURLOPT_CAINFO, rq.ca_file.c_str());
  curl_easy_setopt(c.h, CURLOPT_PROXY, "");     // never a proxy from the environment
  curl_easy_setopt(c.h, CURLOPT_NOSIGNAL, 1L);  // worker threads
  curl_easy_setopt(c.h, CURLOPT_TIMEOUT_MS, static_cast<long>(rq.timeout.count()));
  curl_easy_setopt(c.h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(rq.timeout.count()));
  curl_easy_setopt(c.h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(rq.max_body));
  curl_easy_setopt(c.h, CURLOPT_USERAGENT, rq.user_agent.c_str());
  curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c.h, CURLOPT_ERRORBUFFER, errbuf);
  std::string ctype_header;
  if (rq.method == "POST") {
    curl_easy_setopt(c.h, CURLOPT_POST, 1L);
    curl_easy_setopt(c.h, CURLOPT_POSTFIELDS, rq.body.data());
    curl_easy_setopt(c.h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(rq.body.size()));
    ctype_header = "Content-Type: " + (rq.content_type.empty() ? "application/octet-stream" : rq.content_type);
    c.headers = curl_slist_append(c.headers, ctype_header.c_str());
    c.headers = curl_slist_append(c.headers, "Expect:");  // no 100-continue round trip
  }
  for (const std::string& h : rq.headers) c.headers = curl_slist_append(c.headers, h.c_str());
  if (c.headers) curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, c.headers);
  CURLcode rc = curl_easy_perform(c.h);
  const std::string what = (rq.method == "POST" ? "posting to " : "fetching ") + url + ": ";
  if (body.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
    return base::Error::temporary(what + "response larger than " + std::to_string(rq.max_body) +
                                  " bytes");
  }
  if (rc != CURLE_OK) {
    return base::Error::temporary(what + (errbuf[0] ? errbuf : curl_easy_strerror(rc)));
  }
  Response out;
  curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &out.status);
  char* ctype = nullptr;
  curl_easy_getinfo(c.h, CURLINFO_CONTENT_TYPE, &ctype);
  if (ctype) out.content_type = ctype;
  out.body = std::move(body.data);
  return out;
}

}  // namespace postern::dns::http
