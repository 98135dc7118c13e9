// store-deliver: the local delivery agent. Message on stdin, recipients as arguments;
// stores into each recipient's mailbox (Inbox, +detail, Junk). See store-deliver(8).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "base/cli.h"
#include "base/fd.h"
#include "base/log.h"
#include "config/config.h"
#include "config/spam.h"
#include "config/store.h"
#include "spam/filter.h"
#include "spam/recipient.h"
#include "store/local_delivery.h"

namespace {

namespace base = postern::base;
namespace spam = postern::spam;
namespace store = postern::store;
namespace json = boost::json;

struct Options {
  std::vector<std::string> recipients;
  store::DeliveryOptions delivery;
  std::string store_url, blob_dir;
  bool json = false;
};

// Postfix runs mailbox_command with RECIPIENT and SENDER in the environment.
void from_environment(Options& o) {
  if (o.recipients.empty()) {
    if (const char* r = std::getenv("RECIPIENT"); r && *r) o.recipients.emplace_back(r);
  }
  if (o.delivery.sender.empty()) {
    if (const char* s = std::getenv("SENDER")) o.delivery.sender = *s ? s : "<>";
  }
}

std::string text_line(const std::string& rcpt, const store::LocalDelivery::Stored& s) {
  return rcpt + ": delivered to " + s.account + " " + s.mailbox + " uid " +
         std::to_string(s.where.uid) + "\n";
}

json::object json_line(const std::string& rcpt, const store::LocalDelivery& d) {
  json::array stored;
  for (const auto& s : d.stored) {
    stored.push_back(json::object{{"account", s.account},
                                  {"mailbox", s.mailbox},
                                  {"uid", s.where.uid},
                                  {"uidvalidity", s.where.uid_validity},
                                  {"email_id", s.where.email_id},
                                  {"blob_id", s.where.blob_id}});
  }
  json::array forward;
  for (const auto& f : d.forward) forward.push_back(json::string(f));
  return {{"recipient", rcpt}, {"result", "delivered"}, {"stored", stored}, {"forward", forward}};
}

// The worst outcome decides the exit status; a temporary failure outranks the others,
// since an MTA must then retry.
int combine(int a, int b) {
  auto rank = [](int c) { return c == 75 ? 1000 : c; };
  return rank(b) > rank(a) ? b : a;
}

int run(Options& o, const postern::config::Config& cfg) {
  from_environment(o);
  if (o.recipients.empty()) {
    return base::fail(base::Error::usage("no recipient given (and RECIPIENT is not set)"));
  }
  auto message = base::read_all(STDIN_FILENO);
  if (!message) return base::fail(message.error());
  auto st = postern::config::open_store(cfg, o.store_url, o.blob_dir, false);
  // A store that cannot be opened is the admin's to fix; the MTA keeps the mail meanwhile.
  if (!st) return base::fail(base::Error::temporary(st.error().message()));
  // A message spam-score has scored (its X-Spam-Status ours): each account with a
  // classifier model of its own gets its own verdict, as over LMTP.
  std::optional<spam::RecipientVerdicts> own;
  if (cfg.get_bool("spam.bayes") && store::trusted_field(*message, "X-Spam-Status")) {
    auto settings = postern::config::spam_settings(cfg);
    if (!settings) return base::fail(settings.error());
    auto filter = spam::make_filter(std::move(*settings), **st);
    if (!filter) return base::fail(filter.error());
    own.emplace(filter->engine, filter->models);
    o.delivery.judge = [&](store::Id account, std::string_view m) { return own->junk(**st, account, m); };
  }
  int status = 0;
  for (const auto& rcpt : o.recipients) {
    auto done = store::deliver_local(**st, rcpt, *message, o.delivery);
    if (!done) {
      const base::Error& e = done.error();
      std::string smtp = std::to_string(e.smtp_code()) + " " + e.enhanced();
      base::log_error(e, {{"recipient", rcpt}, {"smtp", smtp}});
      if (o.json) {
        json::object j{{"recipient", rcpt},
                       {"result", e.temporary() ? "deferred" : "failed"},
                       {"reply", e.smtp_reply()}};
        base::write_stdout(json::serialize(j) + "\n");
      }
      status = combine(status, base::to_int(e.code()));
      continue;
    }
    for (const auto& f : done->forward) {
      base::log_warn("forward_skipped", {{"recipient", rcpt},
                                       {"forward", f},
                                       {"note", "outside targets are forwarded by the queue, "
                                                "not by store-deliver"}});
    }
    for (const auto& s : done->stored) {
      std::string uid = std::to_string(s.where.uid);
      base::log_debug("delivered", {{"recipient", rcpt}, {"account", s.account},
                                   {"mailbox", s.mailbox}, {"uid", uid}});
    }
    if (o.json) {
      base::write_stdout(json::serialize(json_line(rcpt, *done)) + "\n");
    } else {
      for (const auto& s : done->stored) base::write_stdout(text_line(rcpt, s));
    }
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"deliver a message from standard input into local mailboxes"};
  Options o;
  app.add_option("recipients", o.recipients,
                 "recipient addresses (default: $RECIPIENT, as Postfix sets it)")
      ->type_name("ADDRESS");
  app.add_option("-f,--sender", o.delivery.sender,
                 "envelope sender, written as Return-Path (default: $SENDER)")
      ->type_name("ADDRESS");
  app.add_option("-m,--mailbox", o.delivery.mailbox,
                 "deliver into this mailbox instead of Inbox (Inbox when it does not exist)")
      ->type_name("PATH");
  app.add_flag("--create-mailbox", o.delivery.create_mailbox,
               "create the --mailbox when it does not exist");
  app.add_flag("--junk", o.delivery.junk, "file the message into Junk");
  app.add_flag("--quota-tempfail", o.delivery.quota_tempfail,
               "over quota: exit 75 (retry later) instead of 69 (bounce)");
  app.add_flag("--json", o.json, "print one JSON object per recipient");
  postern::config::add_store_options(app, &o.store_url, &o.blob_dir);
  postern::config::Config config;
  return base::run_main(
      argc, argv, app, {.name = "store-deliver", .delivery_path = true},
      [&] { return run(o, config); }, postern::config::loader(&config));
}
