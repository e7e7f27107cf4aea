#!/usr/bin/env bash
# Installs what the test suite uses beyond the Rust toolchain: the stock `biscuit` CLI
# (interoperability tests), biscuit-python, and the system python3 and bash that the sandbox
# tests run inside the sandbox (it shows /usr and /bin, not a toolchain under $HOME), and `kill`
# (procps; the lifecycle test signals servers with it), and curl (the egress test's child reaches
# its servers through the egress proxy with it). Idempotent.
set -euo pipefail
needs=""
[ -x /usr/bin/python3 ] || needs="$needs python3"
[ -x /bin/bash ] || needs="$needs bash"
[ -x /bin/kill ] || [ -x /usr/bin/kill ] || needs="$needs procps"
[ -x /usr/bin/curl ] || needs="$needs curl"
# The secrets tests: a child encodes a secret with base64/od/rev/sed, and the pre-commit hook
# test makes a real git repository.
command -v git >/dev/null 2>&1 || needs="$needs git"
[ -x /usr/bin/rev ] || needs="$needs bsdextrautils"
if [ -n "$needs" ]; then
  echo "installing$needs from Debian's packages (used by the sandbox, lifecycle and egress tests)"
  # shellcheck disable=SC2086 # one word per package
  apt-get update -qq && apt-get install -y -qq $needs
fi
if ! command -v biscuit >/dev/null 2>&1; then
  echo "installing biscuit-cli (the stock Biscuit command line) from crates.io"
  cargo install biscuit-cli --version 0.6.0 --locked --quiet
fi
biscuit --version 2>/dev/null || true

# biscuit-python (interoperability of attenuation), in a private virtualenv under target/.
venv=target/interop-venv
if ! "$venv/bin/python" -c "import biscuit_auth" >/dev/null 2>&1; then
  echo "installing biscuit-python into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "biscuit-python==0.4.0"
fi

# The official Python MCP client (`tool-executor mcp` end-to-end test), in its own virtualenv.
mcp_venv=target/mcp-venv
if ! "$mcp_venv/bin/python" -c "import mcp" >/dev/null 2>&1; then
  echo "installing the Python MCP client into $mcp_venv"
  python3 -m venv "$mcp_venv"
  "$mcp_venv/bin/pip" install -q "mcp==2.3.0"
fi

# A real third-party MCP server from npm, pinned, project-local (the `mcp-gateway` end-to-end
# test fronts it): the reference filesystem server. Node.js from Debian when `node` is missing.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || {
  echo "installing nodejs and npm from Debian's packages (the MCP gateway test's upstream)"
  apt-get update -qq && apt-get install -y -qq nodejs npm
}
mcp_npm=target/mcp-npm
mcp_fs_version=2026.8.31
if [ ! -f "$mcp_npm/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js" ] \
  || ! grep -q "\"version\": \"$mcp_fs_version\"" \
    "$mcp_npm/node_modules/@modelcontextprotocol/server-filesystem/package.json"; then
  echo "installing @modelcontextprotocol/server-filesystem@$mcp_fs_version into $mcp_npm"
  mkdir -p "$mcp_npm"
  npm install --prefix "$mcp_npm" --no-audit --no-fund --save-exact --silent \
    "@modelcontextprotocol/server-filesystem@$mcp_fs_version"
fi
