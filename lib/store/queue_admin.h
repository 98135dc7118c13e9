// What `queue-ctl` does, as library calls on a Queue: the listing (text like
// postqueue -p, or JSON), one message shown, and an admin's re-injection. The tool only
// parses argv and prints what these return.
//
//   Queue q(*store);
//   auto out = postern::store::queue::list_text(q, {.state = State::kHold}, /*json=*/false);
//   if (!out) return base::fail(out.error());
//   base::write_stdout(*out);
//
// Errors follow the exit-code table: an unknown queue id is Error::no_user (67), a bad
// address or state Error::usage (64), a busy store Error::temporary (75).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"
#include "store/queue.h"

namespace postern::store::queue {

// "active" / "hold"; nullopt for anything else.
std::optional<State> parse_state(std::string_view name);

// The listing: per message its id, size, arrival time (UTC), state and sender, then its
// recipients with their status, and a summary line ("2 messages, 3 KB"); "queue is
// empty" when nothing matches. With `json`, one JSON object per message and line.
base::Result<std::string> list_text(Queue& q, const ListFilter& filter, bool json);

// The envelope, schedule and recipients of one message, as "name: value" lines or one
// JSON object.
base::Result<std::string> show_text(Queue& q, std::string_view id, bool json);

// Puts `message` (LF or CRLF; stored CRLF) into the queue for `recipients`, from `sender`
// ("" or "<>" for the null reverse-path), straight away: no filters run. Returns the new
// queue id. `requiretls`: the message carries RFC 8689 REQUIRETLS, as if received with it.
base::Result<std::string> add_message(Queue& q, std::string_view sender,
                                      std::span<const std::string> recipients,
                                      std::string_view message, bool requiretls = false);

}  // namespace postern::store::queue
