#!/usr/bin/env bash
# A short fuzz run: builds the cargo-fuzz targets of fuzz/ and runs each for FUZZ_SECONDS
# (default 30; the targets run side by side) from its committed seeds (fuzz/seeds/<target>/,
# copied to a scratch corpus). Prints each target's executions and the total; exits non-zero if
# any target crashes. A crash input is kept in fuzz/artifacts/<target>/ and printed in base64;
# replay it with:
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> fuzz/artifacts/<target>/<file>
#
# Needs only the stable toolchain: RUSTC_BOOTSTRAP=1 lets it take cargo-fuzz's nightly flags.
# Built without a sanitizer by default (FUZZ_SANITIZER=none): the targets look for panics in
# safe Rust, and the build stays within a few minutes on 2 cores. FUZZ_SANITIZER=address adds
# AddressSanitizer (a longer build). FUZZ_ARGS adds libFuzzer options to every target.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
FUZZ_SANITIZER="${FUZZ_SANITIZER:-none}"
read -r -a extra_args <<<"${FUZZ_ARGS:-}"
TARGETS=(command_decode event_decode policy_parse)
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never
script_start=$(date +%s)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

echo "== building fuzz targets (fuzz/target)"
build_start=$(date +%s)
# Not --locked: fuzz/Cargo.lock pins what it lists, and picks up a dependency the project's
# crates gain without this script failing.
cargo fuzz build --fuzz-dir fuzz --target-dir fuzz/target -s "$FUZZ_SANITIZER"
build_seconds=$(($(date +%s) - build_start))
echo "build: ${build_seconds}s"

triple=$(rustc -vV | sed -n 's/^host: //p')
bin_dir="fuzz/target/${triple}/release"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
touch "${scratch}/start"

echo "== fuzzing ${TARGETS[*]} for ${FUZZ_SECONDS}s each, side by side"
declare -A pids
for t in "${TARGETS[@]}"; do
  corpus="${scratch}/corpus/${t}"
  artifacts="fuzz/artifacts/${t}"
  mkdir -p "$corpus" "$artifacts"
  cp fuzz/seeds/"${t}"/* "$corpus"/
  args=(
    "-max_total_time=${FUZZ_SECONDS}"
    "-timeout=20"
    "-max_len=16384" # the default policy (a seed of policy_parse) is over 8 KiB
    "-print_final_stats=1"
    "-artifact_prefix=${artifacts}/"
    ${extra_args[@]+"${extra_args[@]}"}
  )
  if [[ -f "fuzz/${t}.dict" ]]; then
    args+=("-dict=fuzz/${t}.dict")
  fi
  "${bin_dir}/${t}" "${args[@]}" "$corpus" >"${scratch}/${t}.log" 2>&1 &
  pids[$t]=$!
done

total=0
passed=0
failed=()
summary=()
for t in "${TARGETS[@]}"; do
  rc=0
  wait "${pids[$t]}" || rc=$?
  log="${scratch}/${t}.log"
  # libFuzzer's last words: "Done N runs in S second(s)"; after a crash, the final stats.
  runs=$(sed -n 's/^Done \([0-9]*\) runs in.*/\1/p' "$log" | tail -n 1)
  if [[ -z "$runs" ]]; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  fi
  runs=${runs:-0}
  total=$((total + runs))
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1))
    summary+=("$(printf '%-16s %12s runs  ok' "$t" "$runs")")
  else
    failed+=("$t")
    summary+=("$(printf '%-16s %12s runs  CRASH (exit %s)' "$t" "$runs" "$rc")")
    echo "---- ${t} failed (exit ${rc}); the end of its log:"
    tail -n 60 "$log"
    while IFS= read -r f; do
      echo "---- reproducer ${f} (base64):"
      base64 -w 0 "$f"
      echo
    done < <(find "fuzz/artifacts/${t}" -type f -newer "${scratch}/start")
  fi
done

echo "== fuzz summary (${FUZZ_SECONDS}s per target, build ${build_seconds}s, whole script $(($(date +%s) - script_start))s)"
printf '%s\n' "${summary[@]}"
printf '%-16s %12s runs\n' "total" "$total"
echo "fuzz: ${passed} passed, ${#failed[@]} failed"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "crashed: ${failed[*]}" >&2
  exit 1
fi
