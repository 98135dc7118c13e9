// A long-running service's spam filter: the engine (the rule set compiled, with the
// store's local domains added to the protected ones) and the classifier's models,
// re-read after `refresh` when spam-train has taught them since. Nothing here touches
// the network (scan.h adds DNS blocklists, Pyzor and the LLM), so a statically linked
// delivery agent can judge with it.
//
//   auto f = spam::make_filter(settings, store);          // Error::config: bad rules
//   spam::RecipientVerdicts rv(f->engine, f->models);
#pragma once

#include <chrono>
#include <memory>

#include "base/result.h"
#include "spam/engine.h"
#include "spam/models.h"
#include "store/store.h"

namespace postern::spam {

struct Filter {
  std::shared_ptr<const Engine> engine;
  std::shared_ptr<Models> models;
};

base::Result<Filter> make_filter(Settings settings, store::Store& store,
                                 std::chrono::seconds refresh = std::chrono::seconds(60));

}  // namespace postern::spam
