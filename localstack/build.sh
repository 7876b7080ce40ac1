#!/usr/bin/env bash
# Builds every function as a Lambda bootstrap (release, x86_64 — safe in both AWS China and global regions) into
# target/lambda/<function>/bootstrap. Installs cargo-lambda into localstack/.venv-build if missing.
# Extra arguments go to `cargo lambda build` (e.g. --arm64 for the international stack, --output-format zip).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/localstack/.venv-build"
req="$root/localstack/build-requirements.txt"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/cargo-lambda" || "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$venv/.stamp"
fi
export PATH="$venv/bin:$PATH"
cd "$root"
bins=()
for dir in functions/*/; do
  if [[ -f "$dir/src/main.rs" ]]; then bins+=(--bin "$(basename "$dir")"); fi
done
cargo lambda build --release --x86-64 "${bins[@]}" "$@"
