#!/usr/bin/env bash
# Interoperability with the stock Biscuit command line (`biscuit`, crate biscuit-cli):
#   * `biscuit inspect GRANT --public-key ed25519/HEX` verifies a trustctl grant and prints its
#     facts (grant_id, holder, scope, command, limit, deny_regex);
#   * a grant attenuated with
#       biscuit attenuate GRANT --block 'check if operation($op), ["fs.read"].contains($op);'
#     is honoured by the real executor with exactly that narrowing (fs.read works, fs.patch and
#     proc.run are refused with PERMISSION_DENIED), and so are the other hand-written blocks of
#     docs/grant-vocabulary.md (prefix, command, limit, expiry, --add-ttl);
#   * `biscuit inspect --authorize-with ...` dry-runs a request offline as the document shows;
#   * `biscuit` reads what `trustctl grant attenuate` writes.
# The checks live in tests/tests/cli.rs (interop_biscuit_cli_inspects_and_attenuates_grants),
# which starts a real authority and executor on loopback; this script makes sure `biscuit` is
# installed and that the test cannot silently skip.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if ! command -v biscuit >/dev/null 2>&1; then
  echo "== installing biscuit-cli 0.6.0 from crates.io"
  cargo install biscuit-cli --version 0.6.0 --locked
fi
echo "== using $(command -v biscuit)"

echo "== building trustctl and the servers"
cargo build -p trustctl -p trust-authority -p tool-executor --bins

echo "== interop test"
TRUST_REQUIRE_BISCUIT_CLI=1 cargo test -p trust-tests --test cli interop -- --nocapture
