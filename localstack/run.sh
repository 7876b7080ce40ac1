#!/usr/bin/env bash
# Runs the whole kefu backend locally: the AWS emulator, the stack deployed from infra/template.yaml, every
# function on http://127.0.0.1:3000, a fake WeChat API on http://127.0.0.1:3100, a fake WeCom API on
# http://127.0.0.1:3103, a fake Graph API for Messenger on http://127.0.0.1:3101 (international edition), fake SMS
# APIs (Twilio, Aliyun, Tencent Cloud) on http://127.0.0.1:3102 and a demo account.
# Ctrl-C stops everything. Environment: KEFU_EDITION (international|mainland), AWS_REGION, KEFU_MOTO_PORT.
set -euo pipefail
export KEFU_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KEFU_VENV="$KEFU_ROOT/localstack/.venv"
cd "$KEFU_ROOT"
# shellcheck source=localstack/emulator.sh
source localstack/emulator.sh

edition="${KEFU_EDITION:-international}"
if [[ "$edition" == mainland ]]; then region="${AWS_REGION:-cn-north-1}"; else region="${AWS_REGION:-us-east-1}"; fi
port="${KEFU_MOTO_PORT:-4566}"
state="$KEFU_ROOT/localstack/.state"
mkdir -p "$state"

bash localstack/venv.sh
echo "building the functions (the first build takes a few minutes)…"
cargo build --workspace --quiet

trap kefu_emulator_stop EXIT
kefu_emulator_start "$port" "$state/emulator.log"
echo "AWS emulator on http://127.0.0.1:$port ($region, $edition)"
kefu_deploy "http://127.0.0.1:$port" kefu-local "$edition" "$region" "$state/kefu-local.json"

# The fake Graph API (Messenger Send API) on :3101 for the international edition; Messenger is not in mainland China.
if [[ "$edition" == mainland ]]; then meta=(--no-fake-meta); else meta=(--fake-meta 127.0.0.1:3101); fi

AWS_REGION="$region" "$KEFU_ROOT/target/debug/kefu-local" --manifest "$state/kefu-local.json" "${meta[@]}" \
  --listen 127.0.0.1:3000 --fake-wechat 127.0.0.1:3100 --fake-wecom 127.0.0.1:3103 --fake-sms 127.0.0.1:3102 --seed-demo --demo-out "$KEFU_ROOT/localstack/demo.json"
