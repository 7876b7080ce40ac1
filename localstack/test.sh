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

# Headless Chromium and chromedriver for the web chat widget's browser test (Debian packages).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "== installing chromium and chromium-driver"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >"$state/apt-chromium.log" 2>&1 \
    || { echo "could not install chromium; see $state/apt-chromium.log" >&2; exit 1; }
fi

bash localstack/venv.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== IaC tests (cfn-lint for both stacks, template rules, deploy into the emulator)"
"$KEFU_VENV/bin/pytest" -q -p no:cacheprovider infra/tests

echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

# Each run has its own emulator and manifests, so runs side by side never read each other's stack.
run="$(mktemp -d "$state/test-run.XXXXXX")"
cleanup() {
  kefu_emulator_stop
  rm -rf "$run"
}
trap cleanup EXIT
port="$(kefu_free_port)"
kefu_emulator_start "$port" "$run/emulator.log"
kefu_deploy "http://127.0.0.1:$port" kefu-test international us-east-1 "$run/kefu-test.json"
kefu_deploy "http://127.0.0.1:$port" kefu-test-mainland mainland cn-north-1 "$run/kefu-test-mainland.json"

echo "== cargo test"
KEFU_TEST_MANIFEST="$run/kefu-test.json" KEFU_TEST_MANIFEST_MAINLAND="$run/kefu-test-mainland.json" \
  cargo test --workspace --no-fail-fast
