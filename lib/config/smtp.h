// smtp-listen's settings from the configuration (the smtp:, tls:, listeners:, dns: and
// server: sections).
//
//   auto s = config::smtp_settings(cfg);
//   if (!s) return s.error();              // Error::config
//   smtp::Server server(std::move(*s), opener, reloader);
#pragma once

#include "base/result.h"
#include "config/config.h"
#include "smtp/server.h"

namespace postern::config {

// The SMTP-family listeners (mx, submission, submissions, lmtp) become Settings::listeners.
base::Result<smtp::Settings> smtp_settings(const Config& cfg);

}  // namespace postern::config
