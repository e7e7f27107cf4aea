#!/usr/bin/env bash
# Installs what the test suite uses beyond the Rust toolchain: the stock `biscuit` CLI
# (interoperability tests). Idempotent.
set -euo pipefail
if ! command -v biscuit >/dev/null 2>&1; then
  echo "installing biscuit-cli (the stock Biscuit command line) from crates.io"
  cargo install biscuit-cli --version 0.6.0 --locked --quiet
fi
biscuit --version 2>/dev/null || true
