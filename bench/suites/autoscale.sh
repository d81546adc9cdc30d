#!/usr/bin/env bash
# Description: autoscaling end to end: recovery after a 10x load step (Floodgate policy vs an HPA-default emulation), cold-start overhead from zero, dropped requests
#
# Run it as `bench/run autoscale`; see bench/README.md for what every number means.
# Knobs (environment): BASE_RPS (60), STEP_RPS (600), SLO (100ms: p99 objective),
# BUCKET (500ms), SLO_HOLD (3s: how long the SLO must hold to count as
# recovered), PRE (5s: least time at BASE_RPS before the step), RUN (20s:
# Floodgate run after the step), HPA_RUN (60s: HPA-emulation run after the
# step), PHASE (0.5: where in the autoscaler's decision period the step
# falls), MAX_OUT (2000: most requests outstanding), CLIENT_TIMEOUT (10s),
# WORK (0), DELAY (20ms), CONCURRENCY (4): the workload of the step runs,
# TARGET (3: concurrency target per instance), MAX_REPLICAS (10),
# COLD_N (5 rounds), START_DELAY (200ms), READY_INTERVAL (10ms: readiness
# probe period of the cold-start run, the smallest the config accepts),
# QUICK=1 (PRE=2s RUN=10s HPA_RUN=20s COLD_N=3, no repeats), FOREIGN_MAX (10,
# %), RETRIES (1: repeat a step run once when other processes used more than
# FOREIGN_MAX % of the machine), RETRY_BUDGET (1 repeat in all; 0 with
# QUICK=1), QUIET_WAIT (10 s before each run while the machine is busy),
# QUIET_BUDGET (30 s in all), FLOODGATE_BIN (use this binary instead of
# building ./cmd/floodgate), KEEP_TMP=1 (keep configs and logs).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

# ---------------------------------------------------------------- settings

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	PRE=${PRE:-2s} RUN=${RUN:-10s} HPA_RUN=${HPA_RUN:-20s} COLD_N=${COLD_N:-3} RETRY_BUDGET=${RETRY_BUDGET:-0} QUIET_BUDGET=${QUIET_BUDGET:-10}
fi
BASE_RPS=${BASE_RPS:-60}
STEP_RPS=${STEP_RPS:-600}
SLO=${SLO:-100ms}
BUCKET=${BUCKET:-500ms}
SLO_HOLD=${SLO_HOLD:-3s}
PRE=${PRE:-5s}
RUN=${RUN:-20s}
HPA_RUN=${HPA_RUN:-60s}
PHASE=${PHASE:-0.5}
MAX_OUT=${MAX_OUT:-2000}
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-10s}
WORK=${WORK:-0}
DELAY=${DELAY:-20ms}
CONCURRENCY=${CONCURRENCY:-4}
TARGET=${TARGET:-3}
MAX_REPLICAS=${MAX_REPLICAS:-10}
COLD_N=${COLD_N:-5}
START_DELAY=${START_DELAY:-200ms}
READY_INTERVAL=${READY_INTERVAL:-10ms}
FOREIGN_MAX=${FOREIGN_MAX:-10}
RETRIES=${RETRIES:-1}
RETRY_BUDGET=${RETRY_BUDGET:-1}
QUIET_WAIT=${QUIET_WAIT:-10}
QUIET_BUDGET=${QUIET_BUDGET:-30}

for v in BASE_RPS STEP_RPS MAX_OUT CONCURRENCY MAX_REPLICAS COLD_N FOREIGN_MAX RETRIES RETRY_BUDGET QUIET_WAIT QUIET_BUDGET; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v=${!v}: want a non-negative integer"
done
((BASE_RPS >= 1 && STEP_RPS >= 1 && MAX_OUT >= 1 && COLD_N >= 1 && MAX_REPLICAS >= 1)) || die "BASE_RPS, STEP_RPS, MAX_OUT, COLD_N and MAX_REPLICAS must be >= 1"
[[ $TARGET =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "TARGET=$TARGET: want a number"
[[ $PHASE =~ ^0(\.[0-9]+)?$ ]] || die "PHASE=$PHASE: want a fraction in [0, 1)"
for v in PRE RUN HPA_RUN SLO BUCKET SLO_HOLD CLIENT_TIMEOUT DELAY START_DELAY READY_INTERVAL; do
	[[ ${!v} =~ ^[0-9]+$ ]] && printf -v "$v" '%ss' "${!v}"
	[[ ${!v} =~ ^[0-9]+(\.[0-9]+)?(ms|s|m)$ ]] || die "$v=${!v}: want a duration such as 500ms, 2s"
done
[[ $WORK =~ ^0$|^[0-9]+(\.[0-9]+)?(us|ms|s)$ ]] || die "WORK=$WORK: want 0 or a duration such as 200us"

# secs DURATION: a duration (500ms, 2s, 1m, 200us, 0) in seconds.
secs() { awk -v d="$1" 'BEGIN { v = d + 0; if (d ~ /us$/) v /= 1e6; else if (d ~ /ms$/) v /= 1000; else if (d ~ /m$/) v *= 60; printf "%.6g", v }'; }
# Instances the step needs: capacity (CONCURRENCY per DELAY+WORK) and the
# concurrency target (Little's law: STEP_RPS x service time / TARGET).
SVC_S=$(calc "$(secs "$DELAY") + $(secs "$WORK")" %.6f)
NEED_CAP=$(calc "($SVC_S > 0) ? $STEP_RPS * $SVC_S / $CONCURRENCY : 0" %.1f)
NEED_TGT=$(calc "($SVC_S > 0) ? $STEP_RPS * $SVC_S / $TARGET : 0" %.1f)
PER_INST=$(calc "($SVC_S > 0) ? $CONCURRENCY / $SVC_S : 0" %.0f)

NOTES=()
ERRORS=0
note() {
	NOTES+=("$*")
	warn "$*"
}

# ---------------------------------------------------------------- preparation

log "== Floodgate autoscaling benchmark ($(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -r), $NCPU CPUs)"
log "   load: $BASE_RPS req/s, then a step to $STEP_RPS req/s (open loop, at most $MAX_OUT outstanding, client timeout $CLIENT_TIMEOUT); SLO: p99 <= $SLO per $BUCKET bucket of send time, held $SLO_HOLD"
log "   workload per instance: WORK=$WORK DELAY=$DELAY CONCURRENCY=$CONCURRENCY (about $PER_INST req/s each); autoscale min 1 max $MAX_REPLICAS, concurrency target $TARGET"
log "   the step load needs $NEED_CAP instances of capacity, $NEED_TGT at the concurrency target (Little's law)"
log "   runs: Floodgate policy (RUN=$RUN after the step), HPA emulation (HPA_RUN=$HPA_RUN); PRE=$PRE, step at PHASE=$PHASE of the decision period; cold start: COLD_N=$COLD_N, START_DELAY=$START_DELAY, readiness probe every $READY_INTERVAL; QUICK=$QUICK"
log "   nothing is pinned (instances must be able to use both cores); targets (not asserted): recovery <= 3 s, cold-start overhead <= 10 ms, 0 dropped"
setup_tmp

command -v go >/dev/null || die "go is required to build floodgate, examples/workload, bench/loadgen and bench/autoscale"
raise_nofile 20000

log "-- building (go $(go env GOVERSION))"
(cd "$ROOT" && go build -o "$TMP/workload" ./examples/workload) || die "building examples/workload failed"
(cd "$ROOT" && go build -o "$TMP/loadgen" ./bench/loadgen) || die "building bench/loadgen failed"
(cd "$ROOT" && go build -o "$TMP/autoscale" ./bench/autoscale) || die "building bench/autoscale failed"
LOADGEN=$TMP/loadgen
build_floodgate

result_na() {
	log ""
	log "RESULT autoscale recover_s=n/a hpa_recover_s=n/a cold_start_overhead_ms=n/a dropped=n/a"
	exit 1
}
if [[ -n $FG_NA ]]; then
	note "floodgate: $FG_NA"
	result_na
fi

read -r -a ports <<<"$("$LOADGEN" ports 2)"
FG_PORT=${ports[0]} ADMIN_PORT=${ports[1]}
URL=http://127.0.0.1:$FG_PORT/
ADMIN=http://127.0.0.1:$ADMIN_PORT

# config FILE AUTOSCALE_YAML ENV_YAML READY_INTERVAL: a Floodgate config with
# one managed, autoscaled upstream "svc" running the workload.
config() {
	local file=$1 autoscale=$2 env=$3 ready=$4
	cat >"$file" <<EOF
admin: {address: "127.0.0.1:$ADMIN_PORT"}
access_log: {enabled: false}
listeners:
  - address: 127.0.0.1:$FG_PORT
upstreams:
  - name: svc
    managed:
      command: $TMP/workload
      env: $env
      ready: {path: /healthz, interval: $ready}
      stop_grace: 2s
    autoscale:
$autoscale
routes:
  - name: all
    upstream: svc
EOF
	if ! "$TMP/floodgate" validate "$file" >"$TMP/validate.log" 2>&1; then
		sed 's/^/     | /' "$TMP/validate.log"
		note "floodgate rejected the benchmark configuration $(basename "$file")"
		result_na
	fi
}

STEP_ENV="{WORK: \"$WORK\", DELAY: \"$DELAY\", CONCURRENCY: \"$CONCURRENCY\"}"
COLD_ENV="{WORK: \"0\", DELAY: \"0\", CONCURRENCY: \"$CONCURRENCY\", START_DELAY: \"$START_DELAY\"}"

# Floodgate's policy: its defaults (panic mode, 1 s interval, 60 s stable
# window, up max(100 %, 4) per 5 s, down after 30 s by 50 % per 15 s).
config "$TMP/fg.yaml" "      min: 1
      max: $MAX_REPLICAS
      metrics: [{concurrency: $TARGET}]" "$STEP_ENV" 10ms

# HPA defaults, emulated: 15 s sync period, metrics averaged over 15 s
# (metrics-server resolution), no panic mode, up max(100 %, 4) per 15 s,
# down after 300 s by 100 % per 15 s.
config "$TMP/hpa.yaml" "      min: 1
      max: $MAX_REPLICAS
      metrics: [{concurrency: $TARGET}]
      interval: 15s
      stable_window: 15s
      panic_threshold: 0
      scale_up: {policies: [{percent: 100, period: 15s}, {instances: 4, period: 15s}]}
      scale_down: {stabilization: 300s, policies: [{percent: 100, period: 15s}]}" "$STEP_ENV" 10ms

# Cold start: scale to zero after 1 s idle (the 2 s stable window's
# averages must reach 0 first).
config "$TMP/cold.yaml" "      min: 0
      max: 1
      stable_window: 2s
      panic_window: 1s
      scale_to_zero_after: 1s
      hold: {queue: 100, timeout: 10s}" "$COLD_ENV" "$READY_INTERVAL"

FG_PID=""
# start_floodgate CONFIG: a fresh Floodgate; waits until its admin API
# answers (the driver waits for the instances).
start_floodgate() {
	local cfg=$1 n
	start_bg floodgate "$TMP/floodgate-$(basename "$cfg" .yaml).log" "$TMP/floodgate" run -c "$cfg" --log-format text
	FG_PID=$BG_PID
	for ((n = 0; n < 100; n++)); do
		"$LOADGEN" get -timeout 1s "$ADMIN/autoscaler" >/dev/null 2>&1 && return 0
		alive "$FG_PID" || break
		sleep 0.1
	done
	note "floodgate did not come up (admin 127.0.0.1:$ADMIN_PORT): $(tail -n 5 "$TMP/floodgate-$(basename "$cfg" .yaml).log" | tr '\n' ' ')"
	result_na
}

# stop_floodgate: SIGTERM (Floodgate stops its instances), then checks that
# no workload process is left behind.
stop_floodgate() {
	local left
	[[ -n $FG_PID ]] && stop_pid "$FG_PID"
	FG_PID=""
	left=$(pgrep -f "$TMP/workload" | tr '\n' ' ' || true)
	if [[ -n $left ]]; then
		sleep 1
		left=$(pgrep -f "$TMP/workload" | tr '\n' ' ' || true)
	fi
	if [[ -n $left ]]; then
		note "ERROR: workload processes left behind after Floodgate stopped: $left($(for p in $left; do tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null; echo -n '; '; done))"
		ERRORS=$((ERRORS + 1))
	fi
}

# kv_parse OUTPUT: the driver's last `KV k=v ...` line into CUR[k].
declare -A CUR=()
kv_parse() {
	local line kv
	CUR=()
	line=$(grep '^KV ' <<<"$1" | tail -n 1) || return 1
	for kv in ${line#KV }; do CUR[${kv%%=*}]=${kv#*=}; done
}

# ---------------------------------------------------------------- step runs

declare -A R=() # R[run,key]

# step_run NAME CONFIG INTERVAL SETTLE RUN_LEN: fresh Floodgate, the step
# load, the KV figures into R[NAME,*]; repeated (RETRIES) when noisy. The
# step falls at PHASE of the decision period INTERVAL, at least PRE after the
# load starts and SETTLE (the longest scale-up policy period) after the
# start-up scale event.
step_run() {
	local name=$1 cfg=$2 interval=$3 settle=$4 run=$5 attempt out best="" k
	for ((attempt = 0; attempt <= RETRIES; attempt++)); do
		start_floodgate "$cfg"
		wait_quiet
		log ""
		log "-- $name: $BASE_RPS -> $STEP_RPS req/s, $run after the step (decision period $interval)$( ((attempt)) && echo ", repeat $attempt")"
		if ! out=$("$TMP/autoscale" step -url "$URL" -admin "$ADMIN" -service svc -pid "$FG_PID" \
			-base "$BASE_RPS" -step "$STEP_RPS" -pre "$PRE" -run "$run" -interval "$interval" -settle "$settle" -phase "$PHASE" \
			-slo "$SLO" -bucket "$BUCKET" -hold "$SLO_HOLD" -max-out "$MAX_OUT" -timeout "$CLIENT_TIMEOUT" 2>"$TMP/driver.err"); then
			printf '%s\n' "$out" | grep -v '^KV ' || true
			note "$name: the driver failed: $(tail -n 3 "$TMP/driver.err" | tr '\n' ' ')"
			stop_floodgate
			continue
		fi
		printf '%s\n' "$out" | grep -v '^KV '
		stop_floodgate
		kv_parse "$out"
		if [[ -z $best ]] || (($(calc "${CUR[foreign_pct]:-0} < $best" %d))); then
			best=${CUR[foreign_pct]:-0}
			for k in "${!CUR[@]}"; do R[$name,$k]=${CUR[$k]}; done
		fi
		retry_noisy "${CUR[foreign_pct]:-0}" "$attempt" || break
	done
	if [[ -z $best ]]; then
		note "$name: no run completed"
		return 0
	fi
	if (($(calc "${R[$name,foreign_pct]} > $FOREIGN_MAX" %d))); then
		note "$name: other processes used ${R[$name,foreign_pct]}% of the machine after the step: a noisy run (latency spikes may come from starvation, not from the autoscaler)"
	fi
	if ((${R[$name,recovered]:-0} == 0)); then
		note "$name: the p99 did not stay <= $SLO for $SLO_HOLD within the run: recover_s ${R[$name,recover_s]} is a lower bound (the run length after the step minus SLO_HOLD, or later)"
	fi
	return 0
}

step_run floodgate "$TMP/fg.yaml" 1s 5s "$RUN"
step_run hpa "$TMP/hpa.yaml" 15s 15s "$HPA_RUN"

# ---------------------------------------------------------------- cold start

log ""
log "-- cold start from zero: $COLD_N rounds; workload START_DELAY=$START_DELAY WORK=0 DELAY=0; readiness probe every $READY_INTERVAL; own start-to-ready polled every 1 ms"
start_floodgate "$TMP/cold.yaml"
wait_quiet
declare -A C=()
if out=$("$TMP/autoscale" cold -url "$URL" -admin "$ADMIN" -service svc -pid "$FG_PID" -n "$COLD_N" \
	-workload "$TMP/workload" -env "WORK=0,DELAY=0,CONCURRENCY=$CONCURRENCY,START_DELAY=$START_DELAY" \
	-timeout "$CLIENT_TIMEOUT" 2>"$TMP/driver.err"); then
	printf '%s\n' "$out" | grep -v '^KV '
	kv_parse "$out"
	for k in "${!CUR[@]}"; do C[$k]=${CUR[$k]}; done
else
	printf '%s\n' "$out" | grep -v '^KV ' || true
	note "cold start: the driver failed: $(tail -n 3 "$TMP/driver.err" | tr '\n' ' ')"
fi
# Floodgate's own view: "instance ready ... after=236ms" (from its spawn).
fg_after=$(sed -n 's/.*msg="instance ready".* after=\([0-9.]*\)\(ms\|s\|µs\).*/\1 \2/p' "$TMP/floodgate-cold.log" |
	awk '{ v = $1; if ($2 == "s") v *= 1000; else if ($2 == "µs") v /= 1000; print v }')
if [[ -n $fg_after ]]; then
	# shellcheck disable=SC2086 # one number per word
	log "   Floodgate's log: instance ready $(median $fg_after) ms after its spawn (median of $(wc -w <<<"$fg_after") starts, probe every $READY_INTERVAL)"
fi
stop_floodgate
if [[ ${C[foreign_pct]:-n/a} != n/a ]] && (($(calc "${C[foreign_pct]} > $FOREIGN_MAX" %d))); then
	note "cold start: other processes used ${C[foreign_pct]}% of the machine: a noisy run"
fi

# ---------------------------------------------------------------- report

left=$(pgrep -f "$TMP/workload" | tr '\n' ' ' || true)
if [[ -n $left ]]; then
	note "ERROR: workload processes still running at the end: $left"
	ERRORS=$((ERRORS + 1))
fi

g() { echo "${R[$1,$2]:-n/a}"; }
# rec NAME: recover_s, with ">" when it is only a lower bound.
rec() {
	local v
	v=$(g "$1" recover_s)
	[[ $v != n/a && ${R[$1,recovered]:-0} == 0 ]] && v=">$v"
	echo "$v"
}

log ""
log "== Results (step $BASE_RPS -> $STEP_RPS req/s; SLO p99 <= $SLO per $BUCKET of send time, held $SLO_HOLD)"
printf -v row '%-16s %10s %10s %8s %8s %12s %8s %8s %8s %9s %9s' run recover_s first_up_s max_des phase_s p99_after_ms dropped failed unsent late_ms foreign%
log "$row"
for name in floodgate hpa; do
	label=$([[ $name == floodgate ]] && echo "Floodgate" || echo "HPA emulation")
	printf -v row '%-16s %10s %10s %8s %8s %12s %8s %8s %8s %9s %9s' "$label" "$(rec $name)" "$(g $name first_up_s)" "$(g $name max_desired)" \
		"$(g $name phase_s)" "$(g $name p99_after_ms)" "$(g $name dropped)" "$(g $name failed)" "$(g $name unsent)" "$(g $name late_max_ms)" "$(g $name foreign_pct)"
	log "$row"
done
log "   recover_s: from the step until the p99 of the requests sent in each $BUCKET stays <= $SLO for $SLO_HOLD ('>': not within the run, lower bound);"
log "   first_up_s: first scale-up decision after the step; max_des: most instances asked for; phase_s: the step's offset after an autoscaler decision;"
log "   p99_after_ms: all requests after the step (failed/unsent = infinite, n/a if any beyond 1 %); dropped = failed + unsent (non-200, errors, timeouts, not sent);"
log "   late_ms: the driver's worst sending delay; foreign%: CPU of other processes after the step, % of the machine"
fr=$(g floodgate recover_s) hr=$(g hpa recover_s)
if [[ $fr != n/a && $hr != n/a ]] && (($(calc "$fr > 0" %d))); then
	log "   HPA emulation / Floodgate recovery time: $(calc "$hr / $fr" %.1f)x$([[ ${R[hpa,recovered]:-0} == 0 ]] && echo " (at least: HPA did not recover within its run)")"
fi
log ""
log "   cold start ($COLD_N rounds, medians): held first request ${C[held_ms]:-n/a} ms, the workload's own start-to-ready ${C[own_ms]:-n/a} ms,"
log "   overhead ${C[overhead_ms]:-n/a} ms (median of the per-round differences: ${C[paired_ms]:-n/a} ms); warm request ${C[warm_ms]:-n/a} ms;"
log "   spawn ${C[spawn_ms]:-n/a} ms after the send; foreign ${C[foreign_pct]:-n/a}%"
log ""
tgt() { # tgt VALUE LIMIT: "met" / "missed" (never asserted)
	[[ $1 == n/a ]] && {
		echo "n/a"
		return
	}
	if [[ $1 != '>'* ]] && (($(calc "$1 <= $2" %d))); then
		echo "met"
	else
		echo "missed"
	fi
}
log "   against the issue's targets (reported, not asserted):"
log "     recovery after the step      $(rec floodgate) s   target <= 3 s    $(tgt "$(rec floodgate)" 3)"
log "     cold-start overhead          ${C[overhead_ms]:-n/a} ms   target <= 10 ms   $(tgt "${C[overhead_ms]:-n/a}" 10)"
log "     dropped (Floodgate step run) $(g floodgate dropped)        target 0          $(tgt "$(g floodgate dropped)" 0)"
if ((${#NOTES[@]})); then
	log ""
	log "   notes:"
	for n in "${NOTES[@]}"; do log "   - $n"; done
fi
log ""
log "RESULT autoscale recover_s=$(g floodgate recover_s) hpa_recover_s=$(g hpa recover_s) cold_start_overhead_ms=${C[overhead_ms]:-n/a} dropped=$(g floodgate dropped)"
((ERRORS == 0)) || exit 1
