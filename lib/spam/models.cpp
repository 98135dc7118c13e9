// Models: lazily loaded spam_model rows.
#include "spam/models.h"

#include "mail/header.h"

namespace postern::spam {

base::Result<int64_t> Models::account_of(const std::string& rcpt) {
  if (rcpt.empty()) return int64_t{0};
  auto a = store_.find_account(mail::to_lower(rcpt));
  if (!a) return a.error();
  if (!*a) return base::Error::no_user("no account " + rcpt);
  return static_cast<int64_t>((*a)->id);
}

base::Result<const store::spam_model::Model*> Models::load(int64_t account) {
  std::lock_guard lock(mu_);
  auto it = models_.find(account);
  if (it == models_.end()) {
    auto m = store::spam_model::load(store_, account);
    if (!m) return m.error();
    it = models_.emplace(account, std::make_unique<store::spam_model::Model>(std::move(*m))).first;
  }
  return it->second.get();
}

base::Result<const store::spam_model::Model*> Models::for_rcpt(const std::string& rcpt) {
  if (!rcpt.empty()) {
    auto id = account_of(rcpt);
    if (id) {
      auto own = load(*id);
      if (!own) return own.error();
      if (usable(**own)) return *own;
    }
  }
  auto global = load(0);
  if (!global) return global.error();
  return usable(**global) ? *global : nullptr;
}

}  // namespace postern::spam
