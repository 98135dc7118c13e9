// queue-ctl: look at and manage the mail queue in the store: list, show, hold, release,
// retry, flush, bounce and drop messages, and put a message into the queue by hand. See
// queue-ctl(8) and postern-queue(7).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/cli.h"
#include "base/exit_code.h"
#include "base/result.h"
#include "config/config.h"
#include "config/store.h"
#include "store/queue.h"
#include "store/queue_admin.h"

namespace {

namespace base = postern::base;
namespace store = postern::store;
namespace queue = postern::store::queue;

struct Args {
  std::string state, sender, recipient, id, from;
  std::vector<std::string> ids, recipients;
  bool json = false, raw = false, requiretls = false;
};

int print(const base::Result<std::string>& out) {
  if (!out) return base::fail(out.error());
  base::write_stdout(*out);
  return 0;
}

// hold / release / drop: every id is tried; the exit status is the worst one seen.
int each_id(const std::vector<std::string>& ids,
            const std::function<base::Status(const std::string&)>& op) {
  int worst = 0;
  for (const std::string& id : ids) {
    auto st = op(id);
    if (!st) worst = std::max(worst, base::fail(st.error()));
  }
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"list, show, hold, release, retry, flush, bounce, drop and add queued mail"};
  app.require_subcommand(1);
  std::string store_url, blob_dir;
  postern::config::add_store_options(app, &store_url, &blob_dir);
  Args a;
  std::vector<std::pair<CLI::App*, std::function<int(queue::Queue&)>>> leaves;
  auto leaf = [&](const char* name, const char* help, std::function<int(queue::Queue&)> run) {
    CLI::App* c = app.add_subcommand(name, help);
    c->fallthrough();
    leaves.emplace_back(c, std::move(run));
    return c;
  };

  auto* list = leaf("list", "list the queued messages, oldest first", [&](queue::Queue& q) {
    queue::ListFilter f;
    if (!a.state.empty()) f.state = queue::parse_state(a.state);
    f.sender_contains = a.sender;
    f.recipient_contains = a.recipient;
    return print(queue::list_text(q, f, a.json));
  });
  list->add_option("--state", a.state, "only messages in this state")
      ->type_name("{active,hold}")
      ->check(CLI::IsMember({"active", "hold"}));
  list->add_option("--sender", a.sender, "only senders containing this (any case)")
      ->type_name("TEXT");
  list->add_option("--recipient", a.recipient, "only messages with a recipient containing this")
      ->type_name("TEXT");
  list->add_flag("--json", a.json, "one JSON object per message and line");

  auto* show = leaf("show", "show one message's envelope and recipients", [&](queue::Queue& q) {
    if (!a.raw) return print(queue::show_text(q, a.id, a.json));
    auto bytes = q.read(a.id);
    if (!bytes) return base::fail(bytes.error());
    base::write_stdout(*bytes);
    return 0;
  });
  show->add_option("id", a.id, "the queue id")->type_name("ID")->required();
  show->add_flag("--json", a.json, "one JSON object");
  show->add_flag("--raw", a.raw, "print the message itself, as it will be sent");

  auto ids = [&](CLI::App* c) {
    c->add_option("ids", a.ids, "queue ids")->type_name("ID")->required();
  };
  ids(leaf("hold", "keep messages in the queue without delivering them", [&](queue::Queue& q) {
    return each_id(a.ids, [&](const std::string& id) { return q.hold(id); });
  }));
  ids(leaf("release", "make held messages active again, due now", [&](queue::Queue& q) {
    return each_id(a.ids, [&](const std::string& id) { return q.release(id); });
  }));
  ids(leaf("drop", "delete messages from the queue (no bounce is sent)", [&](queue::Queue& q) {
    return each_id(a.ids, [&](const std::string& id) { return q.drop(id); });
  }));
  ids(leaf("retry", "make messages due now (queue-run tries them at its next look)",
           [&](queue::Queue& q) {
             return each_id(a.ids, [&](const std::string& id) { return q.retry(id); });
           }));
  ids(leaf("bounce", "return messages to their senders: queue-run fails what is pending, with a DSN",
           [&](queue::Queue& q) {
             return each_id(a.ids, [&](const std::string& id) { return q.bounce(id); });
           }));
  leaf("flush", "make every active message due now", [&](queue::Queue& q) {
    auto n = q.flush();
    if (!n) return base::fail(n.error());
    base::write_stdout(std::to_string(*n) + " message" + (*n == 1 ? "" : "s") + " made due\n");
    return 0;
  });

  auto* add =
      leaf("add", "queue the message on standard input (no filters run)", [&](queue::Queue& q) {
        std::string message;
        int rc = base::for_each_input({"-"}, [&](const std::string&, std::string& b) {
          message = std::move(b);
          return std::optional<int>(0);
        });
        if (rc != 0) return rc;
        auto id = queue::add_message(q, a.from, a.recipients, message, a.requiretls);
        if (!id) return base::fail(id.error());
        base::write_stdout(*id + "\n");
        return 0;
      });
  add->add_option("-f,--from", a.from, "the envelope sender (\"\" or \"<>\" for none)")
      ->type_name("SENDER")
      ->required();
  add->add_option("recipients", a.recipients, "envelope recipients")->type_name("RCPT")->required();
  add->add_flag("--requiretls", a.requiretls,
                "mark the message REQUIRETLS (RFC 8689): only verified TLS to servers offering it");

  postern::config::Config config;
  return base::run_main(
      argc, argv, app, {.name = "queue-ctl"},
      [&]() -> int {
        auto st = postern::config::open_existing_store(config, store_url, blob_dir);
        if (!st) return base::fail(st.error());
        queue::Queue q(**st);
        for (auto& [c, run] : leaves) {
          if (c->parsed()) return run(q);
        }
        return base::fail(base::Error::usage("no subcommand"));
      },
      postern::config::loader(&config));
}
