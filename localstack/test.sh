#!/usr/bin/env bash
# Runs every test: formatting and lints, the IaC tests, and the Rust tests (unit tests, adapters and
# end-to-end tests against the AWS emulator, which this script starts on a free port and stops).
set -euo pipefail
export KEFU_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KEFU_VENV="$KEFU_ROOT/localstack/.venv"
cd "$KEFU_ROOT"
# shellcheck source=localstack/emulator.sh
source localstack/emulator.sh
state="$KEFU_ROOT/localstack/.state"
mkdir -p "$state"

bash localstack/venv.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== IaC tests (cfn-lint for both stacks, template rules, deploy into the emulator)"
"$KEFU_VENV/bin/pytest" -q -p no:cacheprovider infra/tests

echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

trap kefu_emulator_stop EXIT
port="$(kefu_free_port)"
kefu_emulator_start "$port" "$state/emulator-test.log"
kefu_deploy "http://127.0.0.1:$port" kefu-test international us-east-1 "$state/kefu-test.json"
kefu_deploy "http://127.0.0.1:$port" kefu-test-mainland mainland cn-north-1 "$state/kefu-test-mainland.json"

echo "== cargo test"
KEFU_TEST_MANIFEST="$state/kefu-test.json" KEFU_TEST_MANIFEST_MAINLAND="$state/kefu-test-mainland.json" \
  cargo test --workspace
