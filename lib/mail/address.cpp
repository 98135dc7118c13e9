// Address lists (RFC 5322 3.4 with the obsolete syntax of 4.4), parsed leniently: groups,
// comments (kept as part of the display name), quoted strings, encoded words in phrases
// and comments (RFC 2047 5), obsolete routes, missing brackets, unbalanced quotes.
#include <string>
#include <vector>

#include "mail/charset.h"
#include "mail/header.h"
#include "mail/header_internal.h"

namespace postern::mail {
namespace {

using detail::is_space;

// One mailbox (or group display name) as it is being read.
struct Pending {
  std::string phrase;                 // words joined by single spaces, still encoded
  std::vector<std::string> comments;  // decoded comment texts
  std::optional<std::string> angle;   // raw angle-addr content
  std::string bare;                   // raw text outside comments (addr-spec form)
  std::string word;                   // atom being read

  void end_word() {
    if (word.empty()) return;
    add_word(word);
    word.clear();
  }
  void add_word(const std::string& w) {
    if (!phrase.empty()) phrase.push_back(' ');
    phrase += w;
  }
  bool empty() const {
    return phrase.empty() && word.empty() && comments.empty() && !angle &&
           detail::trim(bare).empty();
  }

  // Display name: the phrase (RFC 2047 words decoded, 6.2 joining rules) followed by the
  // comments in parentheses; a lone comment is the name itself (RFC 5322 3.4 note on
  // comments used as names, e.g. "addr (Real Name)").
  std::optional<std::string> name(bool use_phrase) const {
    std::string p = use_phrase ? decode_encoded_words(phrase) : std::string();
    std::string c;
    for (const auto& k : comments) {
      if (!c.empty()) c.push_back(' ');
      c += k;
    }
    if (!p.empty() && !c.empty()) return p + " (" + c + ")";
    if (!p.empty()) return p;
    if (!c.empty()) return c;
    return std::nullopt;
  }

  Address build() const {
    Address a;
    if (angle) {
      std::string_view addr = detail::trim(*angle);
      // RFC 5322 4.4: obs-route ("@a,@b:") before the addr-spec is ignored.
      if (!addr.empty() && addr[0] == '@') {
        if (auto colon = addr.find(':'); colon != std::string_view::npos)
          addr = detail::trim(addr.substr(colon + 1));
      }
      if (!addr.empty()) a.address = utf8_or_latin1(addr);
      a.name = name(true);
    } else if (std::string_view addr = detail::trim(bare);
               addr.find('@') == std::string_view::npos && !phrase.empty() &&
               comments.empty()) {
      // No angle brackets, no '@', no comment: words like "From: Whomever" are not an
      // addr-spec but a name without an address — what mail clients display (and what
      // the stalwart-mail-parser corpus expects). With a comment ("NO (posting not
      // allowed)") the comment is the name and the word stays the address.
      a.name = name(true);
    } else {
      // No angle brackets: the text is the addr-spec, comments give the name.
      if (!addr.empty()) a.address = utf8_or_latin1(addr);
      a.name = name(false);
    }
    return a;
  }
};

std::string decode_comment(const std::string& raw) {
  return std::string(detail::trim(decode_encoded_words(raw)));
}

}  // namespace

AddressList parse_address_list(std::string_view raw) {
  const std::string s = detail::strip_line_breaks(detail::field_body(raw));
  AddressList result;
  std::vector<AddressGroup> groups;
  std::vector<Address> outside;       // addresses outside any group, in order
  bool saw_group = false, in_group = false;
  bool last_is_outside_group = false;  // groups.back() collects outside addresses
  AddressGroup current;
  Pending mb;

  auto finish_mailbox = [&] {
    mb.end_word();
    if (!mb.empty()) {
      Address a = mb.build();
      if (in_group) {
        current.addresses.push_back(std::move(a));
      } else {
        outside.push_back(a);
        if (!last_is_outside_group) {
          groups.push_back(AddressGroup{});
          last_is_outside_group = true;
        }
        groups.back().addresses.push_back(std::move(a));
      }
    }
    mb = Pending{};
  };
  auto close_group = [&] {
    groups.push_back(std::move(current));
    current = AddressGroup{};
    in_group = false;
    last_is_outside_group = false;
  };

  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '"') {
      mb.end_word();
      std::string content;
      bool terminated = false;
      const size_t end = detail::read_quoted(s, i, &content, &terminated);
      if (!terminated) {
        ++i;  // an unbalanced quote: ignore it and read the rest as if it were absent
        continue;
      }
      mb.bare.append(s, i, end - i);
      mb.add_word(content);
      i = end;
    } else if (c == '(') {
      mb.end_word();
      std::string content;
      i = detail::read_comment(s, i, &content);
      if (auto d = decode_comment(content); !d.empty()) mb.comments.push_back(std::move(d));
    } else if (c == '<') {
      mb.end_word();
      std::string content;
      size_t j = i + 1;
      while (j < s.size() && s[j] != '>') {
        if (s[j] == '(') {
          std::string comment;
          j = detail::read_comment(s, j, &comment);
          if (auto d = decode_comment(comment); !d.empty()) mb.comments.push_back(std::move(d));
        } else if (s[j] == '"') {
          std::string ignored;
          const size_t end = detail::read_quoted(s, j, &ignored);
          content.append(s, j, end - j);
          j = end;
        } else {
          content.push_back(s[j++]);
        }
      }
      if (!mb.angle) {
        mb.angle = std::move(content);
      } else {
        mb.add_word(content);  // a second <...>: keep its text rather than lose it
      }
      i = j < s.size() ? j + 1 : j;
    } else if (c == ',') {
      finish_mailbox();
      ++i;
    } else if (c == ';') {
      finish_mailbox();
      if (in_group) close_group();
      ++i;
    } else if (c == ':' && !in_group && !mb.angle) {
      // RFC 5322 3.4: group = display-name ":" [group-list] ";"
      mb.end_word();
      current = AddressGroup{};
      current.name = mb.name(true);
      mb = Pending{};
      in_group = saw_group = true;
      last_is_outside_group = false;
      ++i;
    } else if (is_space(c)) {
      mb.end_word();
      mb.bare.push_back(c);
      ++i;
    } else {
      mb.word.push_back(c);
      mb.bare.push_back(c);
      ++i;
    }
  }
  finish_mailbox();
  if (in_group) close_group();

  if (saw_group) {
    result.groups = std::move(groups);
  } else {
    result.list = std::move(outside);
  }
  return result;
}

}  // namespace postern::mail
