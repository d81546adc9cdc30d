#!/usr/bin/env bash
# Description: upstream failover: failed client requests and time to ejection when one of 3 targets is killed (kill -9) or hangs (kill -STOP)
#
# Run it as `bench/run failover`; see bench/README.md for what every number means.
# Knobs (environment): RATE (2000 req/s), DUR (6s), AT (2s: when the target
# fails), RUNS (1: each scenario this many times), QUICK=1 (DUR=3s AT=1s),
# CONNS (1024: most requests in flight), CLIENT_TIMEOUT (10s), POLL (10ms:
# admin API polling period), HANG_TIMEOUT (500ms), RESPONSE_HEADER (2s),
# CONSECUTIVE_FAILURES (3), FG_PROCS (1: Floodgate's GOMAXPROCS), PROXY_CPU
# (0), LOAD_CPU (1), FOREIGN_MAX (10, %), RETRIES (1: repeat a scenario once
# when other processes used more than FOREIGN_MAX % of the machine),
# RETRY_BUDGET (2 repeats in all), QUIET_WAIT (10 s before each scenario
# while the machine is busy), QUIET_BUDGET (30 s in all), FLOODGATE_BIN (use
# this binary instead of building ./cmd/floodgate), KEEP_TMP=1 (keep
# configs and logs).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

# ---------------------------------------------------------------- settings

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	DUR=${DUR:-3s} AT=${AT:-1s}
fi
RATE=${RATE:-2000}
DUR=${DUR:-6s}
AT=${AT:-2s}
RUNS=${RUNS:-1}
CONNS=${CONNS:-1024}
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-10s}
POLL=${POLL:-10ms}
HANG_TIMEOUT=${HANG_TIMEOUT:-500ms}
RESPONSE_HEADER=${RESPONSE_HEADER:-2s}
CONSECUTIVE_FAILURES=${CONSECUTIVE_FAILURES:-3}
FG_PROCS=${FG_PROCS:-1}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
FOREIGN_MAX=${FOREIGN_MAX:-10}
RETRIES=${RETRIES:-1}
RETRY_BUDGET=${RETRY_BUDGET:-2}
QUIET_WAIT=${QUIET_WAIT:-10}
QUIET_BUDGET=${QUIET_BUDGET:-30}

[[ $DUR =~ ^[0-9]+$ ]] && DUR=${DUR}s
[[ $AT =~ ^[0-9]+$ ]] && AT=${AT}s
for v in RATE RUNS CONNS CONSECUTIVE_FAILURES FG_PROCS PROXY_CPU LOAD_CPU FOREIGN_MAX RETRIES RETRY_BUDGET QUIET_WAIT QUIET_BUDGET; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v=${!v}: want a non-negative integer"
done
((RATE >= 1 && RUNS >= 1 && CONNS >= 1 && FG_PROCS >= 1)) || die "RATE, RUNS, CONNS and FG_PROCS must be >= 1"
for v in DUR AT CLIENT_TIMEOUT POLL HANG_TIMEOUT RESPONSE_HEADER; do
	[[ ${!v} =~ ^[0-9]+(\.[0-9]+)?(ms|s|m)$ ]] || die "$v=${!v}: want a duration such as 500ms, 2s"
done
((PROXY_CPU < NCPU && LOAD_CPU < NCPU)) || die "PROXY_CPU/LOAD_CPU must be below the $NCPU CPUs of this machine"

NOTES=()
note() {
	NOTES+=("$*")
	warn "$*"
}

# ---------------------------------------------------------------- preparation

log "== Floodgate failover benchmark ($(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -r), $NCPU CPUs)"
log "   RATE=$RATE req/s DUR=$DUR AT=$AT RUNS=$RUNS CONNS=$CONNS QUICK=$QUICK; passive health: consecutive_failures $CONSECUTIVE_FAILURES, hang_timeout $HANG_TIMEOUT; response_header timeout $RESPONSE_HEADER; retries default"
log "   Floodgate (GOMAXPROCS=$FG_PROCS) on CPU $PROXY_CPU, backends + load driver on CPU $LOAD_CPU"
setup_tmp

command -v taskset >/dev/null || die "taskset (util-linux) is required"
command -v go >/dev/null || die "go is required to build floodgate, bench/backend, bench/loadgen and bench/failover"

log "-- building (go $(go env GOVERSION))"
(cd "$ROOT" && go build -o "$TMP/backend" ./bench/backend) || die "building bench/backend failed"
(cd "$ROOT" && go build -o "$TMP/loadgen" ./bench/loadgen) || die "building bench/loadgen failed"
(cd "$ROOT" && go build -o "$TMP/failover" ./bench/failover) || die "building bench/failover failed"
LOADGEN=$TMP/loadgen
build_floodgate

result_na() {
	log ""
	log "RESULT failover failed_requests=n/a eject_ms=n/a hang_eject_ms=n/a failed_kill=n/a failed_hang=n/a kill_max_ms=n/a hang_max_ms=n/a"
	exit 1
}
if [[ -n $FG_NA ]]; then
	note "floodgate: $FG_NA"
	result_na
fi

read -r -a ports <<<"$("$LOADGEN" ports 5)"
BPORT=("${ports[0]}" "${ports[1]}" "${ports[2]}")
FG_PORT=${ports[3]} ADMIN_PORT=${ports[4]}
"$TMP/backend" -print-body >"$TMP/body"
declare -A BPID=()

# get_ok URL: true when URL answers 200 with the backend's body.
get_ok() { "$LOADGEN" get -timeout 1s "$1" >"$TMP/got" 2>"$TMP/got.err" && cmp -s "$TMP/got" "$TMP/body"; }

# start_backend I: backend I on its port, CPU LOAD_CPU; waits until it answers.
start_backend() {
	local i=$1 n
	start_bg "backend$i" "$TMP/backend$i.log" env GOMAXPROCS=1 taskset -c "$LOAD_CPU" "$TMP/backend" -addr "127.0.0.1:${BPORT[i]}"
	BPID[$i]=$BG_PID
	# Killing it is the point of the benchmark: out of the job table, bash
	# reaps it silently instead of printing a "Killed" notice.
	disown "$BG_PID" 2>/dev/null || true
	for ((n = 0; n < 100; n++)); do
		get_ok "http://127.0.0.1:${BPORT[i]}/" && return 0
		alive "${BPID[$i]}" || break
		sleep 0.1
	done
	die "backend $i did not answer on 127.0.0.1:${BPORT[i]}: $(cat "$TMP/got.err" "$TMP/backend$i.log" 2>/dev/null | tail -n 5)"
}

cat >"$TMP/floodgate.yaml" <<EOF
admin: {address: "127.0.0.1:$ADMIN_PORT"}
access_log: {enabled: false}
listeners:
  - address: 127.0.0.1:$FG_PORT
upstreams:
  - name: backend
    targets:
      - http://127.0.0.1:${BPORT[0]}
      - http://127.0.0.1:${BPORT[1]}
      - http://127.0.0.1:${BPORT[2]}
    timeouts: {connect: 1s, response_header: $RESPONSE_HEADER}
    health:
      passive:
        consecutive_failures: $CONSECUTIVE_FAILURES
        hang_timeout: $HANG_TIMEOUT
routes:
  - name: all
    upstream: backend
EOF
if ! "$TMP/floodgate" validate "$TMP/floodgate.yaml" >"$TMP/validate.log" 2>&1; then
	sed 's/^/     | /' "$TMP/validate.log"
	note "floodgate rejected the benchmark configuration"
	result_na
fi

FG_PID=""
# start_floodgate: a fresh Floodgate (no health history, no pooled
# connections); waits until it proxies and its admin API answers.
start_floodgate() {
	local n
	start_bg floodgate "$TMP/floodgate.log" env GOMAXPROCS="$FG_PROCS" taskset -c "$PROXY_CPU" \
		"$TMP/floodgate" run -c "$TMP/floodgate.yaml" --log-format text
	FG_PID=$BG_PID
	for ((n = 0; n < 100; n++)); do
		if get_ok "http://127.0.0.1:$FG_PORT/" && "$LOADGEN" get -timeout 1s "http://127.0.0.1:$ADMIN_PORT/upstreams" >/dev/null 2>&1; then
			return 0
		fi
		alive "$FG_PID" || break
		sleep 0.1
	done
	note "floodgate did not come up on 127.0.0.1:$FG_PORT (admin $ADMIN_PORT): $(cat "$TMP/got.err" 2>/dev/null | tail -n 2) $(tail -n 5 "$TMP/floodgate.log" | tr '\n' ' ')"
	result_na
}

stop_floodgate() {
	[[ -n $FG_PID ]] && stop_pid "$FG_PID"
	FG_PID=""
}

log "-- starting 3 backends (ports ${BPORT[*]}) and Floodgate (port $FG_PORT, admin $ADMIN_PORT)"
for i in 0 1 2; do start_backend "$i"; done

# ---------------------------------------------------------------- scenarios

declare -A R=() # R[mode,run,key]: the kept attempt of each run
declare -A CUR=()
kernel_net_pids

# fo_begin / fo_end: CPU of our processes (Floodgate, backends, the driver
# and anything else this shell waited for, ksoftirqd) and of the machine
# around one scenario; fo_end sets FOREIGN_PCT, the CPU other processes used
# in % of the machine. A backend killed meanwhile is reaped by fo_end: its
# whole CPU time then shows in this shell's cutime, so its start value is
# subtracted.
fo_begin() {
	local i
	tree_ticks "$FG_PID"
	F0_FG=$REPLY
	for i in 0 1 2; do
		pid_ticks "${BPID[$i]}"
		F0_B[$i]=$REPLY
	done
	self_child_ticks
	F0_SELF=$REPLY
	knet_ticks
	F0_KNET=$REPLY
	machine_ticks
	F0_BUSY=$M_BUSY F0_TOTAL=$M_TOTAL
}
declare -a F0_B=()

fo_end() {
	local i ours=0
	tree_ticks "$FG_PID"
	ours=$((REPLY - F0_FG))
	for i in 0 1 2; do
		if running "${BPID[$i]}"; then
			pid_ticks "${BPID[$i]}"
			ours=$((ours + REPLY - F0_B[i]))
		else
			wait "${BPID[$i]}" 2>/dev/null || true
			ours=$((ours - F0_B[i]))
		fi
	done
	self_child_ticks
	ours=$((ours + REPLY - F0_SELF))
	knet_ticks
	ours=$((ours + REPLY - F0_KNET))
	machine_ticks
	local busy=$((M_BUSY - F0_BUSY)) total=$((M_TOTAL - F0_TOTAL))
	local foreign=$((busy - ours))
	((foreign > 0)) || foreign=0
	((total > 0)) || total=1
	FOREIGN_PCT=$(calc "100*$foreign/$total" %.1f)
}

# scenario MODE VICTIM: fresh Floodgate, all three backends up, then the
# driver makes backend VICTIM fail (mode kill or stop) under load. Fills
# CUR[key] from the driver's KV line, plus CUR[foreign].
scenario() {
	local mode=$1 v=$2 out line k kv i
	CUR=()
	for i in 0 1 2; do
		if ! running "${BPID[$i]}"; then
			wait "${BPID[$i]}" 2>/dev/null || true
			start_backend "$i"
		fi
	done
	start_floodgate
	wait_quiet
	log "-- $([[ $mode == kill ]] && echo "A: kill -9" || echo "B: hang (kill -STOP)") of backend $v (127.0.0.1:${BPORT[v]}, pid ${BPID[$v]}) at $AT, $RATE req/s for $DUR"
	fo_begin
	if ! out=$(GOMAXPROCS=1 taskset -c "$LOAD_CPU" "$TMP/failover" -url "http://127.0.0.1:$FG_PORT/" \
		-admin "http://127.0.0.1:$ADMIN_PORT" -upstream backend -target "127.0.0.1:${BPORT[v]}" -pid "${BPID[$v]}" \
		-mode "$mode" -rate "$RATE" -duration "$DUR" -at "$AT" -conns "$CONNS" -timeout "$CLIENT_TIMEOUT" \
		-poll "$POLL" 2>"$TMP/failover.err"); then
		fo_end
		printf '%s\n' "$out" | grep -v '^KV ' || true
		note "$mode: the driver failed: $(tail -n 3 "$TMP/failover.err" | tr '\n' ' ')"
		CUR[foreign]=$FOREIGN_PCT
		stop_floodgate
		return 0
	fi
	fo_end
	CUR[foreign]=$FOREIGN_PCT
	printf '%s\n' "$out" | grep -v '^KV '
	grep -E 'target ejected|panic mode|re-admitted' "$TMP/floodgate.log" | head -n 6 | sed 's/^/   floodgate log: /' || true
	log "   foreign CPU (other processes) during the scenario: ${FOREIGN_PCT}% of the machine$( (($(calc "$FOREIGN_PCT > $FOREIGN_MAX" %d))) && echo " (above $FOREIGN_MAX%: noisy)")"
	line=$(grep '^KV ' <<<"$out" | tail -n 1)
	for kv in ${line#KV }; do
		k=${kv%%=*}
		CUR[$k]=${kv#*=}
	done
	stop_floodgate
}

# run_scenario MODE RUN VICTIM: the scenario, repeated once (RETRIES) when
# other processes used more than FOREIGN_MAX % of the machine meanwhile; the
# attempt with the least foreign CPU is kept.
run_scenario() {
	local mode=$1 run=$2 v=$3 attempt best="" k
	for ((attempt = 0; attempt <= RETRIES; attempt++)); do
		scenario "$mode" "$v"
		if [[ -z $best ]] || (($(calc "${CUR[foreign]} < $best" %d))); then
			best=${CUR[foreign]}
			for k in "${!CUR[@]}"; do R[$mode,$run,$k]=${CUR[$k]}; done
		fi
		retry_noisy "${CUR[foreign]}" "$attempt" || break
	done
	((${R[$mode,$run,skipped]:-0} == 0)) || note "$mode run $run: ${R[$mode,$run,skipped]} requests not sent (more than $CONNS in flight)"
	((${R[$mode,$run,other_ejections]:-0} == 0)) || note "$mode run $run: healthy targets were ejected ${R[$mode,$run,other_ejections]} time(s)"
	[[ ${R[$mode,$run,eject_ms]:-n/a} != n/a ]] || note "$mode run $run: the ejection of the failed target was never seen in the admin API"
	if (($(calc "${R[$mode,$run,foreign]:-0} > $FOREIGN_MAX" %d))); then
		note "$mode run $run: other processes used ${R[$mode,$run,foreign]}% of the machine: a noisy run (stalls, failures and latencies may come from starvation)"
	fi
	return 0
}

for ((run = 1; run <= RUNS; run++)); do
	run_scenario kill "$run" 0
	run_scenario stop "$run" 1
done

# ---------------------------------------------------------------- report

# agg MODE KEY median|sum|max: over the runs (n/a when none).
agg() {
	local mode=$1 key=$2 how=$3 r vals=()
	for ((r = 1; r <= RUNS; r++)); do
		local v=${R[$mode,$r,$key]:-n/a}
		[[ $v != n/a ]] && vals+=("$v")
	done
	((${#vals[@]})) || {
		echo n/a
		return
	}
	case $how in
	median) median "${vals[@]}" ;;
	sum) printf '%s\n' "${vals[@]}" | awk '{ s += $1 } END { print s }' ;;
	max) printf '%s\n' "${vals[@]}" | sort -g | tail -n 1 ;;
	esac
}

fk=$(agg kill failed sum) fh=$(agg stop failed sum)
total=n/a
[[ $fk != n/a && $fh != n/a ]] && total=$((fk + fh))
ek=$(agg kill eject_ms median) eh=$(agg stop eject_ms median)
mk=$(agg kill max_ms max) mh=$(agg stop max_ms max)

log ""
log "== Results ($RUNS run(s) per scenario; ejection times: median, from the signal to the admin API showing the target ejected, ±$POLL)"
printf -v row '%-18s %8s %8s %8s %9s %9s %9s %8s %8s %9s' scenario sent failed skipped eject_ms p99_ms max_ms "slow>1s" "late ms" "foreign%"
log "$row"
for mode in kill stop; do
	name=$([[ $mode == kill ]] && echo "A kill -9" || echo "B hang (SIGSTOP)")
	printf -v row '%-18s %8s %8s %8s %9s %9s %9s %8s %8s %9s' "$name" "$(agg $mode sent sum)" "$(agg $mode failed sum)" \
		"$(agg $mode skipped sum)" "$(agg $mode eject_ms median)" "$(agg $mode p99_ms max)" "$(agg $mode max_ms max)" "$(agg $mode slow sum)" \
		"$(agg $mode late_max_ms max)" "$(agg $mode foreign max)"
	log "$row"
done
log "   failed: client requests answered with a status other than 200 or a transport error; p99/max: client latency from the scheduled send time (worst run);"
log "   late ms: how late the driver itself sent requests (worst); foreign%: CPU used by other processes, % of the machine (worst run; above $FOREIGN_MAX % = noisy)"
if ((${#NOTES[@]})); then
	log ""
	log "   notes:"
	for n in "${NOTES[@]}"; do log "   - $n"; done
fi
log ""
log "RESULT failover failed_requests=$total eject_ms=$ek hang_eject_ms=$eh failed_kill=$fk failed_hang=$fh kill_max_ms=$mk hang_max_ms=$mh"
