#!/usr/bin/env bash
# Description: end-to-end cost of a pool of 3 targets (P2C, passive health, breakers) versus a single static target (Go benchmark, side by side)
#
# Run it as `bench/run pool`; see bench/README.md for what every number means.
# Knobs (environment): ROUNDS (6: invocations of the test binary, each
# running both cases back to back), BENCHTIME (2s per case and round),
# QUICK=1 (ROUNDS=2 BENCHTIME=1s), PROCS (2: GOMAXPROCS of the benchmark),
# KEEP_TMP=1 (keep the raw output).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	ROUNDS=${ROUNDS:-2} BENCHTIME=${BENCHTIME:-1s}
fi
ROUNDS=${ROUNDS:-6}
BENCHTIME=${BENCHTIME:-2s}
PROCS=${PROCS:-2}
for v in ROUNDS PROCS; do
	[[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || die "$v=${!v}: want a positive integer"
done
[[ $BENCHTIME =~ ^[0-9]+(\.[0-9]+)?(ms|s|m)$|^[0-9]+x$ ]] || die "BENCHTIME=$BENCHTIME: want a duration (2s) or a count (10000x)"

log "== Floodgate pool benchmark ($(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -r), $NCPU CPUs)"
log "   ROUNDS=$ROUNDS BENCHTIME=$BENCHTIME GOMAXPROCS=$PROCS QUICK=$QUICK"
setup_tmp
command -v go >/dev/null || die "go is required"

log "-- building the gateway's test binary (go $(go env GOVERSION))"
(cd "$ROOT" && go test -c -o "$TMP/gateway.test" ./internal/gateway) || die "building the gateway tests failed"

# Each round runs targets=1 then targets=3 in one process, so that both see
# the same machine state; rounds are repeated to take the median.
OUT=$TMP/bench.txt
: >"$OUT"
for ((r = 1; r <= ROUNDS; r++)); do
	log "-- round $r/$ROUNDS"
	(cd "$ROOT/internal/gateway" && GOMAXPROCS=$PROCS "$TMP/gateway.test" \
		-test.run '^$' -test.bench '^BenchmarkProxyPool$' -test.benchtime "$BENCHTIME" \
		-test.benchmem -test.count 1) | tee -a "$OUT" | grep '^Benchmark' || die "round $r failed (output in $OUT)"
done

ns_of() { awk -v want="BenchmarkProxyPool/targets=$1" '$1 ~ "^"want"(-[0-9]+)?$" { print $3 }' "$OUT"; }
allocs_of() { awk -v want="BenchmarkProxyPool/targets=$1" '$1 ~ "^"want"(-[0-9]+)?$" { for (i = 1; i < NF; i++) if ($(i+1) == "allocs/op") print $i }' "$OUT"; }
mapfile -t single < <(ns_of 1)
mapfile -t pool3 < <(ns_of 3)
((${#single[@]} == ROUNDS && ${#pool3[@]} == ROUNDS)) || die "expected $ROUNDS results per case, got ${#single[@]} and ${#pool3[@]} (output in $OUT)"

# Per-round ratios (same process, back to back), then the median of those.
ratios=()
for ((i = 0; i < ROUNDS; i++)); do
	ratios+=("$(calc "${single[$i]} / ${pool3[$i]}" %.3f)")
done
ms=$(calc "$(median "${single[@]}")" %.0f)
mp=$(calc "$(median "${pool3[@]}")" %.0f)
ratio=$(calc "$(median "${ratios[@]}")" %.3f)
mapfile -t al1 < <(allocs_of 1)
mapfile -t al3 < <(allocs_of 3)
a1=$(calc "$(median "${al1[@]}")" %.0f)
a3=$(calc "$(median "${al3[@]}")" %.0f)

if command -v benchstat >/dev/null; then
	log "-- benchstat"
	sed -e 's|BenchmarkProxyPool/targets=|BenchmarkProxyPool/targets_|' "$OUT" | benchstat - || true
fi
log ""
log "single target: median $ms ns/op ($a1 allocs/op); pool of 3: median $mp ns/op ($a3 allocs/op)"
log "per-round throughput ratio pool3/single: ${ratios[*]}"
log "pool3_vs_single = median per-round ratio = $ratio (target >= 0.95)"
log "RESULT pool pool3_vs_single=$ratio single_ns_op=$ms pool3_ns_op=$mp pool3_allocs_op=$a3"
