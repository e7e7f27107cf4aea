#!/usr/bin/env bash
# Prepares a TLS deployment for docker-compose.yml. Run once from anywhere; safe to rerun (keeps
# every existing key and certificate).
#
#   deploy/ca/            the deployment CA (ca.key never leaves this host; no container mounts it)
#   deploy/keys/          operator, agent and auditor ed25519 keys (no container mounts them)
#   deploy/authority/     mounted into the authority container only: its config, its certificate
#                         and key, and the CA certificate
#   deploy/executor/      mounted into the executor container only: likewise
#
# Clients on this host: export TRUST_CA=$PWD/deploy/ca/ca.pem and use https://localhost:7401
# and https://localhost:7402.
set -euo pipefail
cd "$(dirname "$0")"
umask 077
trustctl() { cargo run -q -p trustctl -- "$@"; }

mkdir -p keys authority/tls authority/profiles executor/tls
for k in admin agent auditor; do
  [ -f "keys/$k.key" ] || trustctl keygen --out "keys/$k.key" >/dev/null
done
admin=$(trustctl pubkey --key keys/admin.key)
agent=$(trustctl pubkey --key keys/agent.key)
auditor=$(trustctl pubkey --key keys/auditor.key)

# The CA, and one certificate per service for the names it is reached by: the compose service
# name (from the other container) and localhost (health checks, and this host through the
# published loopback ports). The executor's certificate also authenticates it to the authority.
[ -f ca/ca.key ] || trustctl tls init-ca --dir ca >/dev/null
[ -f authority/tls/authority.key ] || trustctl tls issue --ca-dir ca --name authority \
  --dns authority --dns localhost --ip 127.0.0.1 --server --out-dir authority/tls >/dev/null
[ -f executor/tls/executor.key ] || trustctl tls issue --ca-dir ca --name executor \
  --dns executor --dns localhost --ip 127.0.0.1 --server --client --out-dir executor/tls >/dev/null
cp ca/ca.pem authority/tls/ca.pem
cp ca/ca.pem executor/tls/ca.pem

# Inside a container a service must listen on the container's interface: 0.0.0.0 is set here
# explicitly (the default is 127.0.0.1); docker-compose.yml publishes the ports on the host's
# loopback only.
cat > authority/authority.toml <<TOML
listen = "0.0.0.0:7401"
data_dir = "/var/lib/trust/authority"
profiles = ["profiles/coding.toml"]

[tls]
cert = "tls/authority.pem"
key = "tls/authority.key"
client_ca = "tls/ca.pem"

[[agents]]
id = "coder-1"
owner = "alice"
public_key = "$agent"

[[admins]]
id = "ops"
public_key = "$admin"
TOML
cat > executor/executor.toml <<TOML
listen = "0.0.0.0:7402"
data_dir = "/var/lib/trust/executor"
executor_id = "executor-1"
authority = "https://authority:7401"
# The authority's root keys, pinned: the executor learns no key from the network unauthenticated.
# Copy the authority's public key set here once it has started (see the message below).
authority_key_set_file = "authority-key-set.json"
# The checkpoint signing key lives outside the data directory (its own volume), so a copy of the
# provenance log is not also a copy of the key that vouches for it.
checkpoint_key = "/var/lib/trust-checkpoint/executor.key"

[tls]
cert = "tls/executor.pem"
key = "tls/executor.key"
authority_ca = "tls/ca.pem"

[[workspaces]]
name = "demo"
root = "/workspace"

[[auditors]]
id = "ops"
public_key = "$auditor"
TOML
chmod 0644 authority/authority.toml executor/executor.toml authority/tls/*.pem executor/tls/*.pem

# The containers run as TRUST_UID, which must own the service keys (0600). As a normal user that
# is you (the image is built with your uid); as root it is 10001 and the keys are handed to it.
uid=$(id -u)
if [ "$uid" = 0 ]; then
  uid=10001
  chown -R "$uid" authority/tls executor/tls
fi
echo "TRUST_UID=$uid" > ../.env
echo "deploy/ is ready (TLS on every link). Clients: export TRUST_CA=$PWD/ca/ca.pem; keys are in deploy/keys/ (keep them private)"
if [ ! -f executor/authority-key-set.json ]; then
  cat <<'TEXT'
Pin the authority's root keys before starting the executor (public keys only):
  docker compose up -d authority
  docker compose cp authority:/var/lib/trust/authority/keys/key-set.json deploy/executor/authority-key-set.json
  docker compose up -d
TEXT
fi
