#include <algorithm>
#include <array>

#include "supervise/supervise.h"

namespace postern::supervise {
namespace {

constexpr std::array<std::string_view, 5> kSmtpModes = {"mx", "submission", "submissions", "lmtp",
                                                        "local"};

// smtp-listen is the front door: it stops first, so it drains before the queue stops.
constexpr std::array kServices = {
    ServiceSpec{.name = "smtp-listen", .modes = kSmtpModes, .always = false, .stop_order = 0},
    ServiceSpec{.name = "queue-run", .modes = {}, .always = true, .stop_order = 1},
};

}  // namespace

std::span<const ServiceSpec> service_table() { return kServices; }

Plan plan_services(const std::vector<ListenerSpec>& listeners) {
  Plan plan;
  std::vector<bool> served(listeners.size(), false);
  for (const ServiceSpec& spec : kServices) {
    ServicePlan p{.name = std::string(spec.name), .listeners = {}, .stop_order = spec.stop_order};
    for (size_t i = 0; i < listeners.size(); ++i) {
      if (std::find(spec.modes.begin(), spec.modes.end(), listeners[i].mode) != spec.modes.end()) {
        p.listeners.push_back(listeners[i]);
        served[i] = true;
      }
    }
    if (spec.always || !p.listeners.empty()) plan.services.push_back(std::move(p));
  }
  for (size_t i = 0; i < listeners.size(); ++i) {
    if (!served[i]) plan.unserved.push_back(listeners[i]);
  }
  return plan;
}

}  // namespace postern::supervise
