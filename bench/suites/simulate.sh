#!/usr/bin/env bash
# Description: autoscaling trace simulator: Floodgate's policy vs HPA defaults vs a fixed count on the shipped traces (SLO-violation seconds, replica-seconds)
#
# Run it as `bench/run simulate`; see bench/README.md for what every number means.
# Knobs (environment): SEEDS ("1 2 3": every trace is simulated once per
# seed and the figures are summed), QUICK=1 (SEEDS=1), TRACES (the four
# shipped traces, names under bench/traces without .csv), SIM_ARGS (extra
# `floodgate simulate` flags, the same for every run), PLOT_DIR (write a PNG
# per trace and the first seed there), FLOODGATE_BIN (use this binary
# instead of building ./cmd/floodgate), KEEP_TMP=1 (keep the raw output).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	SEEDS=${SEEDS:-1}
fi
SEEDS=${SEEDS:-1 2 3}
TRACES=${TRACES:-step10x diurnal spikes onoff}
SIM_ARGS=${SIM_ARGS:-}
PLOT_DIR=${PLOT_DIR:-}
for s in $SEEDS; do
	[[ $s =~ ^[0-9]+$ ]] || die "SEEDS=$SEEDS: want non-negative integers"
done
for t in $TRACES; do
	[[ $t =~ ^[A-Za-z0-9_-]+$ && -f $ROOT/bench/traces/$t.csv ]] || die "TRACES: no trace bench/traces/$t.csv"
done

log "== Floodgate autoscaling simulation ($(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -r), $NCPU CPUs)"
log "   TRACES=\"$TRACES\" SEEDS=\"$SEEDS\" QUICK=$QUICK${SIM_ARGS:+ SIM_ARGS=\"$SIM_ARGS\"}"
setup_tmp

if [[ -n ${FLOODGATE_BIN:-} ]]; then
	BIN=$FLOODGATE_BIN
	[[ -x $BIN ]] || die "FLOODGATE_BIN=$BIN is not executable"
else
	command -v go >/dev/null || die "go is required"
	log "-- building floodgate (go $(go env GOVERSION))"
	BIN=$TMP/floodgate
	(cd "$ROOT" && go build -o "$BIN" ./cmd/floodgate) || die "building floodgate failed"
fi
if [[ -n $PLOT_DIR ]]; then
	mkdir -p "$PLOT_DIR"
fi

# row FILE POLICY: "violation_s replica_s cold_starts dropped" of a policy
# from a simulate table (the first field of each row is the policy name).
row() { awk -v p="$2" '$1 == p { print $2, $3, $4, $5; exit }' "$1"; }

declare -A V R C D # per trace and policy: violation seconds, replica-seconds, cold starts, dropped
POLICIES="floodgate hpa fixed"
total_sim=0
for t in $TRACES; do
	for p in $POLICIES; do
		V[$t.$p]=0 R[$t.$p]=0 C[$t.$p]=0 D[$t.$p]=0
	done
	first=1
	for seed in $SEEDS; do
		out=$TMP/$t.$seed.txt
		plot=()
		if [[ -n $PLOT_DIR && $first == 1 ]]; then
			plot=(--plot "$PLOT_DIR/$t.png")
		fi
		log ""
		log "-- $t, seed $seed"
		t0=$(date +%s.%N)
		# shellcheck disable=SC2086 # SIM_ARGS is a list of flags
		"$BIN" simulate --seed "$seed" "${plot[@]}" $SIM_ARGS "$ROOT/bench/traces/$t.csv" >"$out" || die "floodgate simulate failed on $t (output in $out)"
		t1=$(date +%s.%N)
		el=$(calc "$t1 - $t0" %.2f)
		total_sim=$(calc "$total_sim + $el" %.2f)
		cat "$out"
		log "   (simulated in ${el} s wall time, all three policies)"
		for p in $POLICIES; do
			read -r v r c d < <(row "$out" "$p") || die "no $p row in the output for $t (output in $out)"
			V[$t.$p]=$((V[$t.$p] + v)) C[$t.$p]=$((C[$t.$p] + c)) D[$t.$p]=$((D[$t.$p] + d))
			R[$t.$p]=$(calc "${R[$t.$p]} + $r" %.0f)
		done
		first=0
	done
done

# ratio A B: A/B with two decimals; 0/0 → 1.00 (the same), x/0 → inf.
ratio() {
	if [[ $2 == 0 ]]; then
		if [[ $1 == 0 ]]; then echo 1.00; else echo inf; fi
	else
		calc "$1 / $2" %.2f
	fi
}

nseeds=$(wc -w <<<"$SEEDS")
log ""
log "== Summary (summed over $nseeds seed(s)): violation seconds, replica-seconds, cold starts, dropped requests"
printf '%-9s | %9s %9s %9s | %10s %10s %10s | %6s %6s | %8s %8s | %s\n' \
	trace viol_fg viol_hpa viol_fix repl_s_fg repl_s_hpa repl_s_fix cs_fg cs_hpa drop_fg drop_hpa "fg/hpa viol, repl_s"
sum_vf=0 sum_vh=0 sum_rf=0 sum_rh=0
for t in $TRACES; do
	printf '%-9s | %9d %9d %9d | %10d %10d %10d | %6d %6d | %8d %8d | %s, %s\n' "$t" \
		"${V[$t.floodgate]}" "${V[$t.hpa]}" "${V[$t.fixed]}" \
		"${R[$t.floodgate]}" "${R[$t.hpa]}" "${R[$t.fixed]}" \
		"${C[$t.floodgate]}" "${C[$t.hpa]}" "${D[$t.floodgate]}" "${D[$t.hpa]}" \
		"$(ratio "${V[$t.floodgate]}" "${V[$t.hpa]}")" "$(ratio "${R[$t.floodgate]}" "${R[$t.hpa]}")"
	sum_vf=$((sum_vf + V[$t.floodgate])) sum_vh=$((sum_vh + V[$t.hpa]))
	sum_rf=$(calc "$sum_rf + ${R[$t.floodgate]}" %.0f) sum_rh=$(calc "$sum_rh + ${R[$t.hpa]}" %.0f)
done
slo_ratio=$(ratio "$sum_vf" "$sum_vh")
rs_ratio=$(ratio "$sum_rf" "$sum_rh")
log ""
log "all traces: violation seconds Floodgate $sum_vf, HPA $sum_vh; replica-seconds Floodgate $sum_rf, HPA $sum_rh"
log "simulation wall time: ${total_sim} s in all ($nseeds seed(s) x $(wc -w <<<"$TRACES") traces x 3 policies)"
log "goal: slo_violation_ratio_vs_hpa <= 0.5 at replica_seconds_ratio_vs_hpa <= 1.0"
log "RESULT simulate slo_violation_ratio_vs_hpa=$slo_ratio replica_seconds_ratio_vs_hpa=$rs_ratio"
