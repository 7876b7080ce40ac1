#!/usr/bin/env bash
# Prints kefu's performance figures: codec benchmarks (criterion) and the release size of every function.
#   bash localstack/bench.sh            # both
#   bash localstack/bench.sh codecs     # criterion benches only
#   bash localstack/bench.sh sizes      # release Lambda binaries only (cargo-lambda, x86_64)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
what="${1:-all}"

if [[ "$what" == all || "$what" == codecs ]]; then
  echo "== codec benchmarks (criterion; time per push)"
  # Each benchmark's median time (criterion prints [low median high]).
  cargo bench -p kefu-domain --bench wechat --bench channels -- --noplot 2>&1 | awk '
    /^Benchmarking/ { next }
    /time:/ {
      if ($1 != "time:") { name = $1; t = $5 " " $6 } else { t = $4 " " $5 }
      if (!seen[name]++) print name, t   # later "time:" lines are the change since the last run
      next
    }
    /^[a-z_]+\/[a-z_]+/ { name = $1 }'
fi

if [[ "$what" == all || "$what" == sizes ]]; then
  echo "== release Lambda binaries (x86_64, opt-level s, thin LTO, stripped)"
  bash localstack/build.sh --quiet >/dev/null
  printf "%-22s %12s %12s\n" function bootstrap gzip-9
  for f in target/lambda/*/bootstrap; do
    name="$(basename "$(dirname "$f")")"
    size=$(stat -c %s "$f")
    zipped=$(gzip -9 -c "$f" | wc -c)
    awk -v n="$name" -v s="$size" -v z="$zipped" 'BEGIN { printf "%-22s %9.1f MB %9.1f MB\n", n, s / 1048576, z / 1048576 }'
  done
fi
