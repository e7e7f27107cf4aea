#!/usr/bin/env bash
# Generates operator, agent and auditor keys under deploy/keys/ and writes the two service
# configs docker-compose.yml mounts. Run once from the repository root; safe to rerun (keeps keys).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p keys
trustctl() { cargo run -q -p trustctl -- "$@"; }
for k in admin agent auditor; do
  [ -f "keys/$k.key" ] || trustctl keygen --out "keys/$k.key" >/dev/null
done
admin=$(trustctl pubkey --key keys/admin.key)
agent=$(trustctl pubkey --key keys/agent.key)
auditor=$(trustctl pubkey --key keys/auditor.key)
cat > authority.toml <<TOML
listen = "0.0.0.0:7401"
data_dir = "/var/lib/trust/authority"
profiles = ["profiles/coding.toml"]

[[agents]]
id = "coder-1"
owner = "alice"
public_key = "$agent"

[[admins]]
id = "ops"
public_key = "$admin"
TOML
cat > executor.toml <<TOML
listen = "0.0.0.0:7402"
data_dir = "/var/lib/trust/executor"
executor_id = "executor-1"
authority = "http://authority:7401"
# The authority's root keys, pinned: the executor learns no key from the network unauthenticated.
# Copy the authority's public key set here once it has started (see the message below).
authority_key_set_file = "/etc/trust/authority-key-set.json"

[[workspaces]]
name = "demo"
root = "/workspace"

[[auditors]]
id = "ops"
public_key = "$auditor"
TOML
echo "wrote deploy/authority.toml and deploy/executor.toml; keys are in deploy/keys/ (keep them private)"
if [ ! -f authority-key-set.json ]; then
  cat <<'TEXT'
Pin the authority's root keys before starting the executor (public keys only):
  docker compose up -d authority
  docker compose cp authority:/var/lib/trust/authority/keys/key-set.json deploy/authority-key-set.json
  docker compose up -d
TEXT
fi
