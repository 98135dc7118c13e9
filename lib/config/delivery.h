// queue-run's settings from the configuration (the delivery:, dns: and server: sections).
//
//   auto s = config::delivery_settings(cfg);
//   if (!s) return s.error();              // Error::config, with the key's file:line
//   smtp::delivery::Runner runner(std::move(*s), opener);
#pragma once

#include "base/result.h"
#include "config/config.h"
#include "mail/srs.h"
#include "smtp/delivery.h"

namespace postern::config {

// Reads the DKIM key files too: a missing or unreadable key is Error::config.
base::Result<smtp::delivery::Settings> delivery_settings(const Config& cfg);

// delivery.srs: queue-run rewrites forwarded senders with it, smtp-listen reverses the
// bounces. A domain without a secret is Error::config.
base::Result<mail::srs::Options> srs_options(const Config& cfg);

}  // namespace postern::config
