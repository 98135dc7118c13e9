// Models: lazily loaded spam_model rows, refreshed when the store's totals moved.
#include "spam/models.h"

#include "mail/header.h"

namespace postern::spam {

base::Result<int64_t> Models::account_of(store::Store& store, const std::string& rcpt) {
  if (rcpt.empty()) return int64_t{0};
  auto a = store.find_account(mail::to_lower(rcpt));
  if (!a) return a.error();
  if (!*a) return base::Error::no_user("no account " + rcpt);
  return static_cast<int64_t>((*a)->id);
}

base::Result<ModelPtr> Models::load(store::Store& store, int64_t account) {
  namespace sm = store::spam_model;
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  auto it = models_.find(account);
  if (it != models_.end()) {
    if (refresh_.count() == 0 || now - it->second.checked < refresh_) return it->second.model;
    // Learning changes the totals; an unchanged model is not read again.
    auto t = sm::totals(store, account);
    if (!t) return t.error();
    const sm::Counts& had = it->second.model->totals;
    if (t->nspam == had.nspam && t->nham == had.nham) {
      it->second.checked = now;
      return it->second.model;
    }
  }
  auto m = sm::load(store, account);
  if (!m) return m.error();
  Entry e{std::make_shared<const sm::Model>(std::move(*m)), now};
  models_[account] = e;
  return e.model;
}

base::Result<ModelPtr> Models::own(store::Store& store, int64_t account) {
  auto m = load(store, account);
  if (!m) return m.error();
  return usable(**m) ? *m : nullptr;
}

base::Result<ModelPtr> Models::for_rcpt(store::Store& store, const std::string& rcpt) {
  if (!rcpt.empty()) {
    auto id = account_of(store, rcpt);
    if (id && *id != 0) {
      auto mine = own(store, *id);
      if (!mine) return mine.error();
      if (*mine) return *mine;
    }
  }
  return own(store, 0);
}

}  // namespace postern::spam
