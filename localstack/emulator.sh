# Sourced by run.sh and test.sh: start the embedded AWS emulator (moto server) on 127.0.0.1 and deploy
# infra/template.yaml into it. Defines kefu_emulator_start PORT LOG and kefu_deploy STACK EDITION REGION OUT.

kefu_free_port() {
  "$KEFU_VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

kefu_emulator_start() {
  local port="$1" log="$2"
  "$KEFU_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  KEFU_MOTO_PID=$!
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/moto-api/data.json" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$KEFU_MOTO_PID" 2>/dev/null; then
      echo "the AWS emulator exited; see $log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "the AWS emulator did not start on 127.0.0.1:$port; see $log" >&2
  return 1
}

kefu_emulator_stop() {
  if [[ -n "${KEFU_MOTO_PID:-}" ]] && kill -0 "$KEFU_MOTO_PID" 2>/dev/null; then
    kill "$KEFU_MOTO_PID" 2>/dev/null || true
    wait "$KEFU_MOTO_PID" 2>/dev/null || true
  fi
}

kefu_deploy() {
  local endpoint="$1" stack="$2" edition="$3" region="$4" out="$5"
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$KEFU_VENV/bin/python" "$KEFU_ROOT/localstack/deploy.py" \
    --endpoint "$endpoint" --region "$region" --stack "$stack" --edition "$edition" --out "$out"
}
