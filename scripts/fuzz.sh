#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for MINUTES minutes each, one after another:
#
#   scripts/fuzz.sh [MINUTES] [TARGET...]        # default: 5 minutes, all targets
#
# Targets live in fuzz/ (a crate outside the workspace): admission, normalize_path,
# unified_diff, proto_decode, shell_classify. Each run starts from the committed seeds in fuzz/corpus/<target>
# (read only) and grows fuzz/corpus-work/<target> (git-ignored). A crash leaves its input in
# fuzz/artifacts/<target>/ and makes the script exit 1 after the other targets have run; replay
# one with `cd fuzz && cargo fuzz run -s none <target> artifacts/<target>/<file>`.
#
# Toolchain: runs on stable with no sanitizer (`-s none`; the targets are safe Rust, so
# libFuzzer's coverage guidance and the targets' own assertions are what matter). For
# AddressSanitizer set FUZZ_SANITIZER=address: that needs -Zsanitizer, so the script then sets
# RUSTC_BOOTSTRAP=1 to let the stable compiler accept it.
# Installs cargo-fuzz (`cargo install cargo-fuzz --locked`) if it is missing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
minutes="${1:-5}"
shift || true
case "$minutes" in '' | *[!0-9]*) echo "usage: $0 [MINUTES] [TARGET...]" >&2; exit 2 ;; esac
seconds=$((minutes * 60))
sanitizer="${FUZZ_SANITIZER:-none}"
if [ "$sanitizer" != none ]; then
  export RUSTC_BOOTSTRAP=1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi
mkdir -p logs
cargo fuzz build -s "$sanitizer"
failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus-work/$t" "corpus/$t"
  log="logs/$t.log"
  echo "== $t: $minutes min (sanitizer: $sanitizer) =="
  # max_total_time bounds the run; `timeout` is a backstop should libFuzzer hang.
  if timeout --kill-after=30 $((seconds + 300)) \
    cargo fuzz run -s "$sanitizer" "$t" "corpus-work/$t" "corpus/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    result=clean
  else
    result="FAILED (see fuzz/$log and fuzz/artifacts/$t/)"
    failed+=("$t")
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  corpus=$(find "corpus-work/$t" -type f | wc -l)
  line="$t: $result; ${runs:-?} runs, ${rate:-?} exec/s, coverage ${cov:-?} edges, working corpus $corpus inputs, ${minutes} min"
  echo "$line"
  summary+=("$line")
done
echo
echo "== summary =="
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "failed: ${failed[*]}"
  exit 1
fi
