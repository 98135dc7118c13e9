// The spam filter's settings from the config: thresholds, the shipped rules (compiled in
// from examples/spam/) plus the files under spam.rules, the classifier, the trusted
// authserv-ids and the domains to protect.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "spam/engine.h"

namespace postern::config {

// `extra_rules`: files or directories given on a command line, read after spam.rules.
base::Result<spam::Settings> spam_settings(const Config& cfg,
                                           const std::vector<std::string>& extra_rules = {});

// Rules from one YAML text (`origin` names it in messages), appended to / overriding `rules`.
base::Status parse_spam_rules(const std::string& text, const std::string& origin,
                              std::vector<spam::RuleDef>& rules);

}  // namespace postern::config
