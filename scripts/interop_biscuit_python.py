"""Attenuates a Trust Authority grant with biscuit-python (a Biscuit implementation nobody here wrote).

Usage: interop_biscuit_python.py GRANT_FILE ROOT_PUBLIC_KEY_HEX OUT_FILE 'DATALOG BLOCK'

Reads the grant (URL-safe base64), verifies it against the authority's root key, appends one
attenuation block written against docs/grant-vocabulary.md, and writes the result (base64).
The Rust interop test then presents it to a real executor.
"""

import sys

import biscuit_auth


def main() -> int:
    grant_file, root_hex, out_file, block = sys.argv[1:5]
    raw = bytes.fromhex(root_hex.removeprefix("ed25519/"))
    try:
        root = biscuit_auth.PublicKey.from_bytes(raw)
    except TypeError:  # newer releases take the algorithm too
        root = biscuit_auth.PublicKey.from_bytes(raw, biscuit_auth.Algorithm.Ed25519)
    with open(grant_file, encoding="ascii") as f:
        token = biscuit_auth.Biscuit.from_base64(f.read().strip(), root)
    narrowed = token.append(biscuit_auth.BlockBuilder(block))
    with open(out_file, "w", encoding="ascii") as f:
        f.write(narrowed.to_base64())
    print(f"appended block {narrowed.block_count() - 1}: {narrowed.block_source(narrowed.block_count() - 1)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
