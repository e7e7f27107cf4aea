#!/usr/bin/env bash
# The kill -9 crash tests with many rounds (CI runs the default 3):
#
#   scripts/crash-rounds.sh [ROUNDS]      # default 20 rounds each for the authority and the executor
#
# Each round kills the service with SIGKILL at a random moment under load, restarts it, and
# checks that every grant a client received is in the registry and that every execution a
# client saw acknowledged is in the provenance chain, which verifies. Set TRUST_CRASH_SEED to
# replay the random moments of an earlier run (each test prints its seed).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-20}"
case "$rounds" in '' | *[!0-9]*) echo "usage: $0 [ROUNDS]" >&2; exit 2 ;; esac
TRUST_CRASH_ROUNDS="$rounds" cargo test -p trust-tests --test resilience -- \
  --nocapture --test-threads 1 kill_9
