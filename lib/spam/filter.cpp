// make_filter(): the engine and models a service keeps.
#include "spam/filter.h"

namespace postern::spam {

base::Result<Filter> make_filter(Settings settings, store::Store& store, std::chrono::seconds refresh) {
  auto domains = store.domains();
  if (!domains) return domains.error().with_context("the spam filter's local domains");
  for (const auto& d : *domains) settings.protected_domains.push_back(d.name);
  auto engine = Engine::create(std::move(settings));
  if (!engine) return base::Error::config("spam filter: " + engine.error().message());
  Filter f{*engine, nullptr};
  f.models = std::make_shared<Models>(f.engine->settings().bayes_options, refresh);
  return f;
}

}  // namespace postern::spam
