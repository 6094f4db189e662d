# The two commands a fresh machine needs are `make demo` and `make test`; both run `setup` first.
CARGO ?= cargo
FUZZ_SECONDS ?= 60

.PHONY: setup build test demo bench fuzz java-bridge

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --workspace --all-targets
	$(MAKE) java-bridge

# Every test: unit, property, and interop against the pinned stock Tomcat releases.
test: setup
	$(CARGO) test --workspace --no-fail-fast

# The Tomcat Manager jars, each with the release build of crates/tribes-jni inside:
# target/java-bridge/tribesd-tomcat9.jar (9.0, javax) and tribesd-tomcat10.jar (10.1 and 11.0, jakarta).
java-bridge: setup
	CARGO=$(CARGO) java-bridge/build.sh

# Two stock Tomcat 10.1 nodes and two with our Manager jar, tests/webapp at /app, in a private
# network namespace (as root; otherwise our two nodes with static members on 127.0.0.1): URLs,
# `tribesd members`, a counter round-robin over the nodes, until Ctrl-C (or DEMO_SECONDS).
demo: setup java-bridge
	$(CARGO) build -p tribesd -p tomcat-harness --bin demo
	./target/debug/demo

# tribesd against stock Tomcat, side by side in one run; writes docs/benchmarks.md.
bench: setup
	$(CARGO) build --release -p tribesd -p tribes-bench
	./target/release/tribes-bench

# Each fuzz target for FUZZ_SECONDS, with cargo-fuzz on a nightly toolchain (see fuzz/README.md).
fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || { echo "make fuzz needs cargo-fuzz and a nightly toolchain: see fuzz/README.md"; exit 1; }
	cd fuzz && for t in $$(cargo +nightly fuzz list); do \
	  mkdir -p corpus/$$t && cargo +nightly fuzz run $$t corpus/$$t seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done
