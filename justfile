# Shortcuts for the README's commands. `just` is a convenience: every recipe is one plain command.

# Start the server on the embedded sled log (./data) with the development people file.
serve:
    cargo run --release -- serve

# The test suite, exactly as CI runs it.
test:
    cargo test --workspace

# Everything CI checks.
ci:
    bash .ci/run

# Regenerate api-spec/openapi.json from the code.
openapi:
    cargo run -q -- openapi > api-spec/openapi.json

# Accept changed scenario snapshots after reviewing them.
snapshots:
    INSTA_UPDATE=always cargo test -p repairledger-api --test scenarios

# Walk the hash chain of ./data.
verify:
    cargo run --release -- verify

# Recompute the projections of ./data from position 0 and compare with the live ones.
rebuild:
    cargo run --release -- rebuild

# The crash test at full length: 100 SIGKILL cycles under load (CI runs 5).
crash:
    CRASH_CYCLES=100 cargo test --release -p repairledger --test crash -- --nocapture

# The restore drill (docs/operations.md): online export under 16 writers, import, same head.
restore-drill:
    cargo build --release -p repairledger
    SECONDS_OF_LOAD=20 bash scripts/restore-drill.sh target/release/repairledger

# The power-loss test at full length: 200 power cuts (plain, torn, reordered) on faultfs under
# load (CI runs 5). Needs /dev/fuse and root (or fusermount3, package fuse3).
crash-powerloss:
    POWERLOSS_CYCLES=200 cargo test --release -p repairledger --test powerloss -- --nocapture

# The deterministic simulation with many more seeds than CI (200): the command pipeline on a
# simulated log, disk, clock, webhook receiver and crashes. A failing seed prints its replay
# command (REPAIRLEDGER_SEED=<n> cargo test -p repairledger-api --test sim -- --exact sim --nocapture).
sim:
    SIM_SEEDS=10000 cargo test --release -p repairledger-api --test sim -- --exact sim --nocapture

# Property tests with many more cases than CI.
proptest:
    PROPTEST_CASES=5000 cargo test --release -p repairledger-domain --test interleavings

# A steady-rate soak with latency and memory sampled every 5 s (SOAK_SECONDS, SOAK_RATE).
soak:
    cargo test --release -p repairledger --test soak -- --ignored --nocapture

# Benchmarks, each against its baseline in the same run (see docs/performance.md): durable
# appends against raw sled and PostgreSQL, and the PostgreSQL backend on 1 and 2 nodes
# (criterion), rebuild against deserialize-only (criterion), HTTP commands and reads against
# hello world (wrk), HTTP commands on sled vs PostgreSQL with 1 and 2 nodes, the scale curve
# to 10^6.
bench:
    bash bench/pg.sh
    cargo bench -p repairledger-projections --bench rebuild
    bash bench/http.sh
    bash bench/nodes.sh
    cargo bench -p repairledger-projections --bench scale

# The scale curve to 10^7 events (about 15 minutes, 15 GB of disk, 10 GB of memory).
bench-scale-full:
    SCALE_MAX=10000000 cargo bench -p repairledger-projections --bench scale

# A flamegraph of the server under durable commands (perf + inferno).
profile:
    bash bench/profile.sh
