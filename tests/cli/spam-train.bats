#!/usr/bin/env bats
# spam-train: learning into the global and per-account models (idempotent, moving a
# message learned the other way, forgetting), --stats, and spam-score using the model
# (BAYES_* rules, the global model for an account without its own).

load common

setup() {
  cd "$BATS_TEST_TMPDIR"
  STORE=(--store "sqlite:$BATS_TEST_TMPDIR/store.db")
  account-ctl "${STORE[@]}" domain add example.org > /dev/null
  account-ctl "${STORE[@]}" add ann@example.org > /dev/null
  SPAM=("$FIXTURES"/spam/spam/*.eml)
  HAM=("$FIXTURES"/spam/ham/*.eml)
}

bayes() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.readline()).get("bayes", -1))'; }

@test "spam-train --help; usage errors exit 64" {
  run spam-train --help
  assert_status 0
  for w in --spam --ham --forget --stats --user --files-from --store; do assert_output_contains "$w"; done
  run spam-train "${STORE[@]}" "${SPAM[0]}"
  assert_status 64
  run spam-train "${STORE[@]}" --spam --ham "${SPAM[0]}"
  assert_status 64
}

@test "spam-train: learning counts each message once; the other way moves it" {
  run spam-train "${STORE[@]}" --spam "${SPAM[@]:0:10}"
  assert_status 0
  assert_output_contains "learned 10 as spam"
  run spam-train "${STORE[@]}" --spam "${SPAM[@]:0:10}"
  assert_output_contains "learned 0 as spam, moved 0, already known 10"
  run spam-train "${STORE[@]}" --ham "${SPAM[0]}" "${HAM[@]:0:5}"
  assert_output_contains "learned 5 as ham, moved 1"
  run spam-train "${STORE[@]}" --stats
  assert_output_contains "global model: 9 spam, 6 ham learned"
  run spam-train "${STORE[@]}" --ham --forget "${HAM[@]:0:2}"
  assert_output_contains "forgot 2 messages"
  run spam-train "${STORE[@]}" --stats
  assert_output_contains "9 spam, 4 ham"
}

@test "spam-train --user: an account's own model; unknown accounts exit 67" {
  run spam-train "${STORE[@]}" --user ann@example.org --spam "${SPAM[@]:0:3}"
  assert_status 0
  assert_output_contains "model of ann@example.org: learned 3 as spam"
  run spam-train "${STORE[@]}" --stats
  assert_output_contains "global model: 0 spam, 0 ham"
  run spam-train "${STORE[@]}" --user nobody@example.org --spam "${SPAM[0]}"
  assert_status 67
}

@test "spam-score uses the trained model: held-out spam scores high, ham low" {
  # Train on the even-numbered fixtures, score the odd ones.
  even() { local i=0; for f in "$@"; do if (( i++ % 2 == 0 )); then echo "$f"; fi; done; }
  odd() { local i=0; for f in "$@"; do if (( i++ % 2 == 1 )); then echo "$f"; fi; done; }
  even "${SPAM[@]}" | spam-train "${STORE[@]}" --spam --files-from -
  even "${HAM[@]}" | spam-train "${STORE[@]}" --ham --files-from -
  odd "${SPAM[@]}" > spam.list
  odd "${HAM[@]}" > ham.list
  set_min=(--set spam.bayes_min_learned=20)
  run spam-score "${STORE[@]}" "${set_min[@]}" --json --files-from spam.list
  assert_status 0
  high=$(printf '%s\n' "${lines[@]}" | /usr/bin/python3 -c 'import json,sys
print(sum(1 for l in sys.stdin if json.loads(l).get("bayes", 0) > 0.5))')
  run spam-score "${STORE[@]}" "${set_min[@]}" --json --files-from ham.list
  low=$(printf '%s\n' "${lines[@]}" | /usr/bin/python3 -c 'import json,sys
print(sum(1 for l in sys.stdin if json.loads(l).get("bayes", 1) < 0.5))')
  echo "spam above 0.5: $high of $(wc -l < spam.list); ham below 0.5: $low of $(wc -l < ham.list)"
  # A model of some sixty messages a side (SpamAssassin waits for 200 before it trusts
  # one): seven in ten on each side, well clear of chance; the real corpus's figures are
  # in `make bench`.
  [ "$high" -ge $(( $(wc -l < spam.list) * 7 / 10 )) ]
  [ "$low" -ge $(( $(wc -l < ham.list) * 7 / 10 )) ]
  # BAYES_* rules fire; without enough learned messages the model is not used.
  run spam-score "${STORE[@]}" "${set_min[@]}" --explain "$(head -1 spam.list)"
  assert_output_contains "BAYES_"
  run spam-score "${STORE[@]}" --json "$(head -1 spam.list)"
  [ "$(echo "$output" | bayes)" = "-1" ]
  # An account without its own model gets the global one.
  run spam-score "${STORE[@]}" "${set_min[@]}" --rcpt ann@example.org --json "$(head -1 spam.list)"
  [ "$(echo "$output" | bayes)" != "-1" ]
}

@test "spam-score --tokens: the classifier's strongest tokens, in --explain and --json" {
  write_lottery_lesson 25
  spam-train "${STORE[@]}" --spam s*.eml
  spam-train "${STORE[@]}" --ham h*.eml
  printf 'From: z@elsewhere.example\r\nSubject: hello\r\n\r\nThe lottery jackpot and the meeting agenda\r\n' > mixed.eml
  set_min=(--set spam.bayes_min_learned=20)
  run spam-score "${STORE[@]}" "${set_min[@]}" --explain --tokens 4 mixed.eml
  assert_status 0
  assert_output_contains "classifier's strongest tokens"
  # Learned only from spam, or only from ham: the words lean hard each way.
  [[ "$output" =~ 0\.9[0-9]+\ \ (lottery|jackpot) ]]
  [[ "$output" =~ 0\.0[0-9]+\ \ (meeting|agenda) ]]
  [ "$(grep -c '^  [01]\.[0-9]\{4\}  ' <<< "$output")" -eq 4 ]
  run spam-score "${STORE[@]}" "${set_min[@]}" --json --tokens 2 mixed.eml
  assert_status 0
  n=$(echo "$output" | /usr/bin/python3 -c 'import json,sys
t=json.loads(sys.stdin.read())["bayes_tokens"]
assert all(abs(x["probability"] - 0.5) > 0.3 for x in t), t
print(len(t))')
  [ "$n" -eq 2 ]
  # Without a trained model there is nothing to list; --tokens needs --explain or --json.
  run spam-score "${STORE[@]}" --explain --tokens 4 mixed.eml
  assert_status 0
  [[ "$output" != *"strongest tokens"* ]]
  run spam-score "${STORE[@]}" --tokens 4 mixed.eml
  assert_status 64
  assert_output_contains "--tokens needs --explain or --json"
}

@test "spam-train --mailbox: an account's Junk as spam and Inbox as ham, again without relearning" {
  write_lottery_lesson 25
  for f in s*.eml; do
    { printf 'X-Spam-Flag: YES\r\n'; cat "$f"; } | store-deliver "${STORE[@]}" ann@example.org > /dev/null
  done
  for f in h*.eml; do store-deliver "${STORE[@]}" ann@example.org < "$f" > /dev/null; done
  run spam-train "${STORE[@]}" --user ann@example.org --mailbox junk --spam
  assert_status 0
  assert_output_contains "model of ann@example.org: learned 25 as spam, moved 0, already known 0"
  run spam-train "${STORE[@]}" -u ann@example.org -m Inbox --ham
  assert_output_contains "learned 25 as ham"
  run spam-train "${STORE[@]}" --user ann@example.org --mailbox Junk --spam
  assert_output_contains "learned 0 as spam, moved 0, already known 25"
  run spam-train "${STORE[@]}" --user ann@example.org --stats
  assert_output_contains "25 spam, 25 ham learned"
  run spam-score "${STORE[@]}" --set spam.bayes_min_learned=20 --rcpt ann@example.org --json lotto.eml
  [ "$(echo "$output" | bayes)" != "-1" ]
  echo "$output" | /usr/bin/python3 -c 'import json,sys; assert json.loads(sys.stdin.read())["bayes"] > 0.9'
  # --mailbox is one account's, instead of files; a mailbox that is not there exits 67.
  run spam-train "${STORE[@]}" --mailbox Junk --spam
  assert_status 64
  run spam-train "${STORE[@]}" --user ann@example.org --mailbox Junk --spam s1.eml
  assert_status 64
  run spam-train "${STORE[@]}" --user ann@example.org --mailbox Spam --spam
  assert_status 67
  assert_output_contains "ann@example.org has no mailbox Spam"
}
