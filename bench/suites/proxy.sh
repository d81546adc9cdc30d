#!/usr/bin/env bash
# Description: Floodgate vs nginx, HAProxy, Caddy as a reverse proxy: requests per proxy CPU-second, CO-safe latency, memory
#
# Run it as `bench/run proxy`; see bench/README.md for what every number means.
# Knobs (environment): DUR (10s), RUNS (2), CONNS (64), QUICK=1 (2s, 1 run,
# 1000 idle connections), HOLD_CONNS (10000), WARMUP (1s), LAT_DUR (= DUR),
# LAT_RUNS (= RUNS), RATE (latency arrival rate; default half of Floodgate's
# max RPS), LAT_ALL=1 (also measure proxies saturated at RATE), PROXIES
# ("nginx haproxy caddy floodgate"), FOREIGN_MAX (10, %), RETRIES (1: repeat
# a run once when foreign CPU exceeds FOREIGN_MAX), RETRY_BUDGET (4 repeats
# in all), QUIET_WAIT (10: seconds to wait before a run while the machine is
# busy with other work), QUIET_BUDGET (60 s in all), PROXY_CPU (0), LOAD_CPU
# (1), FLOODGATE_BIN (use this binary instead of building ./cmd/floodgate),
# KEEP_TMP=1 (keep configs and logs).
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

# ---------------------------------------------------------------- settings

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	DUR=${DUR:-2s} RUNS=${RUNS:-1} HOLD_CONNS=${HOLD_CONNS:-1000}
fi
DUR=${DUR:-10s}
RUNS=${RUNS:-2}
CONNS=${CONNS:-64}
HOLD_CONNS=${HOLD_CONNS:-10000}
WARMUP=${WARMUP:-1s}
LAT_DUR=${LAT_DUR:-$DUR}
LAT_RUNS=${LAT_RUNS:-$RUNS}
PROXIES=${PROXIES:-nginx haproxy caddy floodgate}
FOREIGN_MAX=${FOREIGN_MAX:-10}
RETRIES=${RETRIES:-1}
RETRY_BUDGET=${RETRY_BUDGET:-4}
QUIET_WAIT=${QUIET_WAIT:-10}
QUIET_BUDGET=${QUIET_BUDGET:-60}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
RATE=${RATE:-}

[[ $DUR =~ ^[0-9]+$ ]] && DUR=${DUR}s
[[ $LAT_DUR =~ ^[0-9]+$ ]] && LAT_DUR=${LAT_DUR}s
[[ $WARMUP =~ ^[0-9]+$ ]] && WARMUP=${WARMUP}s
for v in DUR LAT_DUR WARMUP; do
	dur_seconds "${!v}" >/dev/null || die "$v=${!v}: want a whole number of seconds, e.g. 10s"
	(($(dur_seconds "${!v}") > 0)) || die "$v must be at least 1s"
done
for v in RUNS LAT_RUNS CONNS HOLD_CONNS RETRIES RETRY_BUDGET QUIET_WAIT QUIET_BUDGET PROXY_CPU LOAD_CPU FOREIGN_MAX; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v=${!v}: want a non-negative integer"
done
((RUNS >= 1 && LAT_RUNS >= 1 && CONNS >= 1 && HOLD_CONNS >= 1)) || die "RUNS, LAT_RUNS, CONNS and HOLD_CONNS must be >= 1"
[[ -z $RATE || $RATE =~ ^[0-9]+$ ]] || die "RATE=$RATE: want an integer (requests per second)"
for p in $PROXIES; do
	case $p in nginx | haproxy | caddy | floodgate) ;; *) die "PROXIES: unknown proxy '$p'" ;; esac
done
((PROXY_CPU < NCPU && LOAD_CPU < NCPU)) || die "PROXY_CPU/LOAD_CPU must be below the $NCPU CPUs of this machine"
if ((PROXY_CPU == LOAD_CPU)); then
	warn "PROXY_CPU == LOAD_CPU: proxy and load share a core; figures will not be comparable to the reference"
fi

CASES=(direct $PROXIES)
declare -A PORT=() PID=() NA=() RSS_IDLE=() RSS_HOLD=() HOLD_INFO=()
declare -A T_RPS=() T_CPU=() T_RPC=() T_FOR=() T_UTIL=() T_ERR=()
declare -A L_P50=() L_P99=() L_P999=() L_FOR=() L_RPC=() L_ERR=()
NOTES=()
note() {
	NOTES+=("$*")
	warn "$*"
}

# ---------------------------------------------------------------- preparation

log "== Floodgate proxy benchmark ($(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -r), $NCPU CPUs)"
log "   DUR=$DUR RUNS=$RUNS CONNS=$CONNS HOLD_CONNS=$HOLD_CONNS LAT_DUR=$LAT_DUR LAT_RUNS=$LAT_RUNS QUICK=$QUICK; proxy on CPU $PROXY_CPU, backend + load generator on CPU $LOAD_CPU"
setup_tmp

command -v taskset >/dev/null || die "taskset (util-linux) is required"
command -v go >/dev/null || die "go is required to build floodgate, bench/backend and bench/loadgen"
ensure_tools wrk:wrk nginx:nginx haproxy:haproxy caddy:caddy
command -v wrk >/dev/null || die "wrk is required"
for p in $PROXIES; do
	if [[ $p != floodgate ]] && ! command -v "$p" >/dev/null; then
		NA[$p]="not installed"
	fi
done

version_of() { { "$@" 2>&1 || true; } | head -n 1; }
versions="wrk $(version_of wrk -v | awk '{ print $2 }')"
for p in nginx haproxy caddy; do
	command -v "$p" >/dev/null || continue
	case $p in
	nginx) versions+=", nginx $(version_of nginx -v | sed 's|.*nginx/||')" ;;
	haproxy) versions+=", HAProxy $(version_of haproxy -v | awk '{ print $3 }')" ;;
	caddy) versions+=", Caddy $(version_of caddy version | awk '{ print $1 }')" ;;
	esac
done
log "   $versions"

raise_nofile $((2 * HOLD_CONNS + 4096))
NOFILE=$(ulimit -n)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
if ((NOFILE < HOLD_CONNS + 1024)); then
	note "open-file limit is $NOFILE (hard limit $(ulimit -Hn)); the $HOLD_CONNS-connection memory test may fail"
fi

log "-- building (go $(go env GOVERSION))"
(cd "$ROOT" && go build -o "$TMP/backend" ./bench/backend) || die "building bench/backend failed"
(cd "$ROOT" && go build -o "$TMP/loadgen" ./bench/loadgen) || die "building bench/loadgen failed"
LOADGEN=$TMP/loadgen
if [[ " $PROXIES " == *" floodgate "* && -n ${FLOODGATE_BIN:-} ]]; then
	[[ -x $FLOODGATE_BIN ]] || die "FLOODGATE_BIN=$FLOODGATE_BIN is not an executable"
	cp "$FLOODGATE_BIN" "$TMP/floodgate"
	log "   floodgate: using FLOODGATE_BIN=$FLOODGATE_BIN (not built)"
elif [[ " $PROXIES " == *" floodgate "* ]]; then
	if (cd "$ROOT" && go build -o "$TMP/floodgate" ./cmd/floodgate) >"$TMP/floodgate-build.log" 2>&1; then
		log "   floodgate built ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo 'no commit yet'); working tree as is)"
	else
		NA[floodgate]="build failed"
		log "   floodgate: build failed, reported as n/a:"
		head -n 12 "$TMP/floodgate-build.log" | sed 's/^/     | /'
	fi
fi

read -r -a ports <<<"$("$LOADGEN" ports 5)"
BACKEND_PORT=${ports[0]}
PORT[direct]=$BACKEND_PORT PORT[nginx]=${ports[1]} PORT[haproxy]=${ports[2]} PORT[caddy]=${ports[3]} PORT[floodgate]=${ports[4]}
"$TMP/backend" -print-body >"$TMP/body"
kernel_net_pids

# wait_ready NAME: until the case answers 200 with the backend's body (10 s).
wait_ready() {
	local c=$1 end=$((SECONDS + 11)) # at least 10 s
	while ((SECONDS < end)); do
		if ! alive "${PID[$c]}"; then
			return 1
		fi
		if "$LOADGEN" get -timeout 1s "http://127.0.0.1:${PORT[$c]}/" >"$TMP/got" 2>"$TMP/got.err"; then
			if cmp -s "$TMP/got" "$TMP/body"; then
				return 0
			fi
			echo "answered 200 with a different body: $(head -c 200 "$TMP/got")" >"$TMP/got.err"
		fi
		sleep 0.1
	done
	return 1
}

# fail_case NAME REASON LOG: mark a proxy n/a and show why.
fail_case() {
	local c=$1 reason=$2 logf=$3
	NA[$c]=$reason
	log "   $c: $reason; reported as n/a"
	[[ -s $TMP/got.err ]] && sed 's/^/     | /' "$TMP/got.err" | head -n 3
	[[ -s $logf ]] && tail -n 8 "$logf" | sed 's/^/     | /'
	if [[ -n ${PID[$c]:-} ]]; then
		stop_pid "${PID[$c]}"
		unset 'PID[$c]'
	fi
	return 0
}

start_direct() {
	start_bg backend "$TMP/backend.log" env GOMAXPROCS=1 taskset -c "$LOAD_CPU" "$TMP/backend" -addr "127.0.0.1:$BACKEND_PORT"
	PID[direct]=$BG_PID
	BACKEND_PID=$BG_PID
}

start_nginx() {
	local d=$TMP/nginx
	mkdir -p "$d"/{client_body,proxy,fastcgi,uwsgi,scgi}
	cat >"$d/nginx.conf" <<-EOF
		worker_processes 1;
		worker_rlimit_nofile $NOFILE;
		pid $d/nginx.pid;
		error_log $d/error.log warn;
		daemon off;
		events { worker_connections $((HOLD_CONNS + 1024)); }
		http {
		    access_log off;
		    keepalive_timeout 300s;
		    keepalive_requests 1000000;
		    client_body_temp_path $d/client_body;
		    proxy_temp_path $d/proxy;
		    fastcgi_temp_path $d/fastcgi;
		    uwsgi_temp_path $d/uwsgi;
		    scgi_temp_path $d/scgi;
		    upstream backend {
		        server 127.0.0.1:$BACKEND_PORT;
		        keepalive 64;
		        keepalive_requests 1000000;
		        keepalive_timeout 300s;
		    }
		    server {
		        listen 127.0.0.1:${PORT[nginx]};
		        location / {
		            proxy_pass http://backend;
		            proxy_http_version 1.1;
		            proxy_set_header Connection "";
		        }
		    }
		}
	EOF
	start_bg nginx "$d/stdout.log" taskset -c "$PROXY_CPU" nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf"
	PID[nginx]=$BG_PID
	LOGF[nginx]=$d/error.log
}

start_haproxy() {
	local d=$TMP/haproxy
	mkdir -p "$d"
	cat >"$d/haproxy.cfg" <<-EOF
		global
		    nbthread 1
		    maxconn 4096
		defaults
		    mode http
		    timeout connect 5s
		    timeout client 300s
		    timeout server 300s
		    timeout http-keep-alive 300s
		    http-reuse always
		frontend fe
		    bind 127.0.0.1:${PORT[haproxy]}
		    default_backend be
		backend be
		    server s1 127.0.0.1:$BACKEND_PORT
	EOF
	start_bg haproxy "$d/haproxy.log" taskset -c "$PROXY_CPU" haproxy -db -f "$d/haproxy.cfg"
	PID[haproxy]=$BG_PID
	LOGF[haproxy]=$d/haproxy.log
}

start_caddy() {
	local d=$TMP/caddy
	mkdir -p "$d/data" "$d/config"
	cat >"$d/Caddyfile" <<-EOF
		{
		    admin off
		    auto_https off
		}
		http://:${PORT[caddy]} {
		    bind 127.0.0.1
		    reverse_proxy 127.0.0.1:$BACKEND_PORT {
		        transport http {
		            keepalive 5m
		            keepalive_idle_conns 128
		            keepalive_idle_conns_per_host 128
		        }
		    }
		}
	EOF
	start_bg caddy "$d/caddy.log" env GOMAXPROCS=1 XDG_DATA_HOME="$d/data" XDG_CONFIG_HOME="$d/config" \
		taskset -c "$PROXY_CPU" caddy run --config "$d/Caddyfile" --adapter caddyfile
	PID[caddy]=$BG_PID
	LOGF[caddy]=$d/caddy.log
}

start_floodgate() {
	local d=$TMP/floodgate.d
	mkdir -p "$d"
	cat >"$d/floodgate.yaml" <<-EOF
		admin: {address: "off"}
		access_log: {enabled: false}
		listeners:
		  - address: 127.0.0.1:${PORT[floodgate]}
		upstreams:
		  - name: backend
		    targets: ["http://127.0.0.1:$BACKEND_PORT"]
		routes:
		  - name: all
		    upstream: backend
	EOF
	start_bg floodgate "$d/floodgate.log" env GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$TMP/floodgate" run -c "$d/floodgate.yaml"
	PID[floodgate]=$BG_PID
	LOGF[floodgate]=$d/floodgate.log
}

declare -A LOGF=()
log "-- starting backend and proxies"
start_direct
wait_ready direct || die "the backend did not answer on 127.0.0.1:$BACKEND_PORT: $(cat "$TMP/got.err" "$TMP/backend.log" 2>/dev/null | tail -n 5)"
rss_kb "${PID[direct]}"
RSS_IDLE[direct]=$REPLY
for c in $PROXIES; do
	if [[ -n ${NA[$c]:-} ]]; then
		log "   $c: skipped (${NA[$c]})"
		continue
	fi
	"start_$c"
	if wait_ready "$c"; then
		rss_kb "${PID[$c]}"
		RSS_IDLE[$c]=$REPLY
		log "   $c: pid ${PID[$c]} on 127.0.0.1:${PORT[$c]}, answers 200 with the backend's body (RSS $(calc "$REPLY/1024" %.1f) MiB)"
	elif alive "${PID[$c]}"; then
		fail_case "$c" "no correct answer on port ${PORT[$c]} within 10 s" "${LOGF[$c]}"
	else
		fail_case "$c" "exited at start" "${LOGF[$c]}"
	fi
done
ACTIVE=()
for c in "${CASES[@]}"; do
	[[ -n ${NA[$c]:-} ]] || ACTIVE+=("$c")
done

# ---------------------------------------------------------------- measurement

# sample_begin / sample_end CASE: CPU ticks of the proxy (process tree), the
# backend, this shell's foreground children (wrk / loadgen), ksoftirqd and the
# whole machine around one measured run.
sample_begin() {
	local c=$1
	S0_PROXY=0
	if [[ $c != direct ]]; then
		tree_ticks "${PID[$c]}"
		S0_PROXY=$REPLY
	fi
	pid_ticks "$BACKEND_PID"
	S0_BACKEND=$REPLY
	self_child_ticks
	S0_CLIENT=$REPLY
	knet_ticks
	S0_KNET=$REPLY
	machine_ticks
	S0_BUSY=$M_BUSY S0_TOTAL=$M_TOTAL
	S0_TIME=$EPOCHREALTIME
}

sample_end() {
	local c=$1 t1=$EPOCHREALTIME
	local proxy=0
	if [[ $c != direct ]]; then
		tree_ticks "${PID[$c]}"
		proxy=$((REPLY - S0_PROXY))
	fi
	pid_ticks "$BACKEND_PID"
	local backend=$((REPLY - S0_BACKEND))
	self_child_ticks
	local client=$((REPLY - S0_CLIENT))
	knet_ticks
	local knet=$((REPLY - S0_KNET))
	machine_ticks
	local busy=$((M_BUSY - S0_BUSY)) total=$((M_TOTAL - S0_TOTAL))
	local foreign=$((busy - proxy - backend - client - knet))
	((foreign > 0)) || foreign=0
	((total > 0)) || total=1
	S_WALL=$(calc "$t1 - $S0_TIME" %.3f)
	S_PROXY=$(calc "$proxy/$HZ" %.2f)
	S_BACKEND=$(calc "$backend/$HZ" %.2f)
	S_CLIENT=$(calc "$client/$HZ" %.2f)
	S_FOREIGN_PCT=$(calc "100*$foreign/$total" %.1f)
	S_PROXY_TICKS=$proxy
	S_BACKEND_TICKS=$backend
}

# check_alive CASE: false (and the case marked n/a) if its process is gone.
check_alive() {
	local c=$1
	[[ -z ${NA[$c]:-} ]] || return 1
	if ! alive "${PID[$c]}"; then
		[[ $c == direct ]] && die "the backend exited: $(tail -n 5 "$TMP/backend.log")"
		NA[$c]="exited during the benchmark"
		note "$c exited during the benchmark: $(tail -n 3 "${LOGF[$c]}" 2>/dev/null | tr '\n' ' ')"
		return 1
	fi
	return 0
}

# measure_tput CASE RUN: wrk at CONNS connections; requests per CPU-second of
# the proxy (of the backend for "direct").
measure_tput() {
	local c=$1 run=$2 url="http://127.0.0.1:${PORT[$c]}/" attempt out best_for="" reqs errs rps ticks cpu rpc util
	check_alive "$c" || return 0
	for ((attempt = 0; attempt <= RETRIES; attempt++)); do
		wait_quiet
		taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$WARMUP" "$url" >/dev/null 2>&1 || true
		sample_begin "$c"
		if ! out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$DUR" "$url" 2>&1); then
			note "$c run $run: wrk failed: $(tail -n 2 <<<"$out")"
			return 0
		fi
		sample_end "$c"
		check_alive "$c" || return 0
		[[ $out =~ ([0-9]+)\ requests\ in ]] || {
			note "$c run $run: cannot parse wrk output"
			return 0
		}
		reqs=${BASH_REMATCH[1]}
		rps=0
		[[ $out =~ Requests/sec:\ *([0-9.]+) ]] && rps=${BASH_REMATCH[1]}
		errs=0
		[[ $out =~ Non-2xx\ or\ 3xx\ responses:\ *([0-9]+) ]] && errs=$((errs + BASH_REMATCH[1]))
		if [[ $out =~ Socket\ errors:\ connect\ ([0-9]+),\ read\ ([0-9]+),\ write\ ([0-9]+),\ timeout\ ([0-9]+) ]]; then
			errs=$((errs + BASH_REMATCH[1] + BASH_REMATCH[2] + BASH_REMATCH[3] + BASH_REMATCH[4]))
		fi
		if [[ $c == direct ]]; then ticks=$S_BACKEND_TICKS cpu=$S_BACKEND; else ticks=$S_PROXY_TICKS cpu=$S_PROXY; fi
		((ticks > 0)) || ticks=1
		rpc=$(calc "$reqs*$HZ/$ticks" %.0f)
		util=$(calc "100*$ticks/$HZ/$S_WALL" %.0f)
		log "$(printf '   run %d/%d %-9s %9d req %8.0f rps  %6s CPU-s (%3s%% of a core) %7s req/CPU-s  backend %5s  wrk %5s CPU-s  foreign %4s%%%s' \
			"$run" "$RUNS" "$c" "$reqs" "$rps" "$cpu" "$util" "$rpc" "$S_BACKEND" "$S_CLIENT" "$S_FOREIGN_PCT" "$( ((errs)) && echo "  ERRORS: $errs")")"
		if [[ -z $best_for ]] || (($(calc "$S_FOREIGN_PCT < $best_for" %d))); then
			best_for=$S_FOREIGN_PCT
			T_RPS[$c,$run]=$rps T_CPU[$c,$run]=$cpu T_RPC[$c,$run]=$rpc T_FOR[$c,$run]=$S_FOREIGN_PCT T_UTIL[$c,$run]=$util T_ERR[$c,$run]=$errs
		fi
		retry_noisy "$S_FOREIGN_PCT" "$attempt" || break
	done
	if ((${T_ERR[$c,$run]:-0} > 0)); then
		note "$c run $run: ${T_ERR[$c,$run]} errors (non-2xx or socket errors) under wrk"
	fi
	return 0
}

# measure_lat CASE RUN: constant-rate, coordinated-omission-safe latency.
measure_lat() {
	local c=$1 run=$2 attempt out best_for="" reqs errs ticks rpc k v load
	local -A kv
	check_alive "$c" || return 0
	for ((attempt = 0; attempt <= RETRIES; attempt++)); do
		wait_quiet
		sample_begin "$c"
		if ! out=$(GOMAXPROCS=1 taskset -c "$LOAD_CPU" "$LOADGEN" rate -addr "127.0.0.1:${PORT[$c]}" -rate "$RATE" \
			-duration "$LAT_DUR" -warmup "$WARMUP" -conns "$CONNS" 2>"$TMP/lat.err"); then
			note "$c latency run $run: loadgen failed: $(tail -n 2 "$TMP/lat.err")"
			return 0
		fi
		sample_end "$c"
		check_alive "$c" || return 0
		kv=()
		for k in $out; do
			kv[${k%%=*}]=${k#*=}
		done
		reqs=${kv[requests]:-0}
		errs=$((${kv[errors]:-0} + ${kv[timeouts]:-0}))
		if [[ $c == direct ]]; then ticks=$S_BACKEND_TICKS; else ticks=$S_PROXY_TICKS; fi
		((ticks > 0)) || ticks=1
		rpc=$(calc "$reqs*$HZ/$ticks" %.0f)
		load=$(calc "100*($S_BACKEND+$S_CLIENT)/$S_WALL" %.0f)
		if [[ $c == direct ]] && ((load > LAT_LOAD_MAX)); then LAT_LOAD_MAX=$load; fi
		log "$(printf '   run %d/%d %-9s p50 %7s  p99 %7s  p99.9 %7s  max %8s us  %7s req/CPU-s  CPU %s busy %3s%%  sender late p99 %6s us  foreign %4s%%%s' \
			"$run" "$LAT_RUNS" "$c" "${kv[p50_us]}" "${kv[p99_us]}" "${kv[p999_us]}" "${kv[max_us]}" "$rpc" "$LOAD_CPU" "$load" "${kv[late_p99_us]}" "$S_FOREIGN_PCT" \
			"$( ((errs)) && echo "  ERRORS: $errs")")"
		if [[ -z $best_for ]] || (($(calc "$S_FOREIGN_PCT < $best_for" %d))); then
			best_for=$S_FOREIGN_PCT
			L_P50[$c,$run]=${kv[p50_us]} L_P99[$c,$run]=${kv[p99_us]} L_P999[$c,$run]=${kv[p999_us]}
			L_FOR[$c,$run]=$S_FOREIGN_PCT L_RPC[$c,$run]=$rpc L_ERR[$c,$run]=$errs
		fi
		retry_noisy "$S_FOREIGN_PCT" "$attempt" || break
	done
	if ((${L_ERR[$c,$run]:-0} > 0)); then
		note "$c latency run $run: ${L_ERR[$c,$run]} errors/timeouts"
	fi
	return 0
}

# measure_hold CASE: RSS with HOLD_CONNS idle keep-alive client connections.
measure_hold() {
	local c=$1 hpid i line="" max=0
	check_alive "$c" || return 0
	start_bg "hold-$c" "$TMP/hold-$c.log" env GOMAXPROCS=1 taskset -c "$LOAD_CPU" "$LOADGEN" hold \
		-addr "127.0.0.1:${PORT[$c]}" -n "$HOLD_CONNS"
	hpid=$BG_PID
	for ((i = 0; i < 1200; i++)); do
		line=$(grep -m1 '^READY' "$TMP/hold-$c.log" 2>/dev/null || true)
		[[ -n $line ]] && break
		alive "$hpid" || break
		sleep 0.1
	done
	if [[ -z $line ]]; then
		note "$c: holding $HOLD_CONNS connections failed: $(tail -n 3 "$TMP/hold-$c.log")"
		stop_pid "$hpid"
		return 0
	fi
	sleep 1
	for ((i = 0; i < 3; i++)); do
		rss_kb "${PID[$c]}"
		((REPLY > max)) && max=$REPLY
		sleep 0.5
	done
	if ! alive "${PID[$c]}"; then
		note "$c died while holding $HOLD_CONNS connections"
		stop_pid "$hpid"
		return 0
	fi
	RSS_HOLD[$c]=$max
	HOLD_INFO[$c]=${line#READY }
	[[ $line =~ failed=([0-9]+) ]] && ((BASH_REMATCH[1] > 0)) && note "$c: ${BASH_REMATCH[1]} of $HOLD_CONNS connections failed ($(grep -m1 'first error' "$TMP/hold-$c.log" || true))"
	log "$(printf '   %-9s %s, RSS %s MiB (idle: %s MiB)' "$c" "${line#READY }" "$(calc "$max/1024" %.1f)" "$(calc "${RSS_IDLE[$c]}/1024" %.1f)")"
	stop_pid "$hpid"
	return 0
}

# med ARRAY CASE RUNS: median over the runs of one case (n/a if none).
med() {
	local -n arr=$1
	local c=$2 n=$3 r vals=()
	for ((r = 1; r <= n; r++)); do
		[[ -n ${arr[$c,$r]:-} && ${arr[$c,$r]} != n/a ]] && vals+=("${arr[$c,$r]}")
	done
	if ((${#vals[@]})); then median "${vals[@]}"; else echo n/a; fi
}

maxv() {
	local -n arr=$1
	local c=$2 n=$3 r m=""
	for ((r = 1; r <= n; r++)); do
		[[ -n ${arr[$c,$r]:-} ]] || continue
		if [[ -z $m ]] || (($(calc "${arr[$c,$r]} > $m" %d))); then m=${arr[$c,$r]}; fi
	done
	echo "${m:-n/a}"
}

machine_ticks
b0=$M_BUSY t0=$M_TOTAL
sleep 1
machine_ticks
idle_busy=$(calc "100*($M_BUSY-$b0)/(($M_TOTAL-$t0) > 0 ? ($M_TOTAL-$t0) : 1)" %.1f)
log "-- machine busy before the runs (everything started, no load): ${idle_busy}% of $NCPU CPUs"
if (($(calc "$idle_busy > $FOREIGN_MAX" %d))); then
	note "the machine was ${idle_busy}% busy before any load: other work is running, expect noisy runs"
fi

log "-- throughput: wrk -t1 -c$CONNS -d$DUR after a $WARMUP warm-up, $RUNS run(s) interleaved"
for ((run = 1; run <= RUNS; run++)); do
	for c in "${ACTIVE[@]}"; do
		measure_tput "$c" "$run"
	done
done

declare -A M_RPS=() M_CPU=() M_RPC=()
for c in "${ACTIVE[@]}"; do
	M_RPS[$c]=$(med T_RPS "$c" "$RUNS")
	M_CPU[$c]=$(med T_CPU "$c" "$RUNS")
	M_RPC[$c]=$(med T_RPC "$c" "$RUNS")
done

if [[ -z $RATE ]]; then
	if [[ -n ${M_RPS[floodgate]:-} && ${M_RPS[floodgate]} != n/a ]]; then
		RATE=$(calc "${M_RPS[floodgate]}/2" %.0f)
		rate_why="half of Floodgate's max RPS"
	else
		slow=""
		for c in "${ACTIVE[@]}"; do
			[[ $c == direct || ${M_RPS[$c]} == n/a ]] && continue
			if [[ -z $slow ]] || (($(calc "${M_RPS[$c]} < ${M_RPS[$slow]}" %d))); then slow=$c; fi
		done
		[[ -n $slow ]] || slow=direct
		RATE=$(calc "${M_RPS[$slow]}/2" %.0f)
		rate_why="half of the slowest peer's ($slow) max RPS; Floodgate n/a"
	fi
else
	rate_why="RATE from the environment"
fi
((RATE >= 1)) || RATE=1

log "-- latency: constant arrival rate $RATE req/s ($rate_why), $CONNS keep-alive connections, $LAT_DUR after a $WARMUP warm-up, $LAT_RUNS run(s) interleaved"
# A proxy pinned to one core serves at most its req/CPU-s per second (its
# wrk RPS may be lower: CPU 1 limits it). One whose capacity is not
# comfortably above the rate would only measure its own queue: skip it
# (LAT_ALL=1 measures it anyway).
LAT_CASES=()
declare -A LAT_SKIP=()
for c in "${ACTIVE[@]}"; do
	if [[ ${LAT_ALL:-0} != 1 && $c != direct && ${M_RPC[$c]} != n/a ]] && (($(calc "$RATE > 0.8 * ${M_RPC[$c]}" %d))); then
		LAT_SKIP[$c]=1
		note "$c: latency not measured: the rate, $RATE req/s, is above 80% of its one-core capacity (${M_RPC[$c]} req/CPU-s), it would only measure its queue (LAT_ALL=1 to force)"
		continue
	fi
	LAT_CASES+=("$c")
done
LAT_LOAD_MAX=0
for ((run = 1; run <= LAT_RUNS; run++)); do
	for c in "${LAT_CASES[@]}"; do
		measure_lat "$c" "$run"
	done
done
if ((LAT_LOAD_MAX > 70)); then
	note "CPU $LOAD_CPU (backend + load generator) was up to ${LAT_LOAD_MAX}% busy at $RATE req/s in the direct case: the latency figures include queueing on that core, and any other work on it inflates them (RATE=... sets a lower rate)"
fi

log "-- memory: VmRSS with $HOLD_CONNS idle keep-alive client connections (each made one request)"
for c in floodgate nginx; do
	if [[ -n ${PID[$c]:-} && -z ${NA[$c]:-} ]]; then
		measure_hold "$c"
	fi
done

# ---------------------------------------------------------------- report

fmt_or_na() { if [[ -z ${1:-} || $1 == n/a ]]; then echo n/a; else calc "$1" "$2"; fi; }

log ""
log "== Results (median of $RUNS throughput run(s) and $LAT_RUNS latency run(s); foreign = CPU used by other processes, % of the machine)"
log "   throughput: wrk -t1 -c$CONNS -d$DUR; latency: $RATE req/s open-loop, measured from the scheduled send time"
printf -v hdr '%-10s %9s %7s %10s %6s %9s %9s %9s %10s %15s' proxy RPS CPU-s req/CPU-s vs-ngx "p50 us" "p99 us" "p99.9 us" "req/CPU-s" "foreign % t/l"
log "$hdr"
printf -v hdr '%-10s %9s %7s %10s %6s %9s %9s %9s %10s %15s' "" "" "" "" "" "" "" "" "@${RATE}rps" ""
log "$hdr"
for c in "${CASES[@]}"; do
	if [[ -n ${NA[$c]:-} ]]; then
		printf -v row '%-10s %9s %7s %10s %6s %9s %9s %9s %10s %15s  (%s)' "$c" n/a n/a n/a n/a n/a n/a n/a n/a n/a "${NA[$c]}"
		log "$row"
		continue
	fi
	ratio=-
	if [[ $c != direct ]]; then
		ratio=n/a
		if [[ -n ${M_RPC[nginx]:-} && ${M_RPC[nginx]} != n/a && ${M_RPC[$c]} != n/a ]]; then
			ratio=$(calc "${M_RPC[$c]}/${M_RPC[nginx]}" %.2f)
		fi
	fi
	ft=$(maxv T_FOR "$c" "$RUNS") fl=$(maxv L_FOR "$c" "$LAT_RUNS")
	flag=""
	for f in "$ft" "$fl"; do
		if [[ $f != n/a ]] && (($(calc "$f > $FOREIGN_MAX" %d))); then flag=" !"; fi
	done
	cpu=${M_CPU[$c]}
	[[ $c == direct ]] && cpu="${cpu}b"
	p50=$(med L_P50 "$c" "$LAT_RUNS") p99=$(med L_P99 "$c" "$LAT_RUNS") p999=$(med L_P999 "$c" "$LAT_RUNS")
	lrpc=$(fmt_or_na "$(med L_RPC "$c" "$LAT_RUNS")" %.0f)
	if [[ -n ${LAT_SKIP[$c]:-} ]]; then p50=sat p99=sat p999=sat lrpc=sat; fi
	printf -v row '%-10s %9s %7s %10s %6s %9s %9s %9s %10s %15s' "$c" "$(fmt_or_na "${M_RPS[$c]}" %.0f)" "$cpu" \
		"$(fmt_or_na "${M_RPC[$c]}" %.0f)" "$ratio" "$p50" "$p99" "$p999" "$lrpc" "$ft/$fl$flag"
	log "$row"
done
log "   direct: the backend alone; its CPU-s and req/CPU-s (marked b) are the backend's own."
log "   foreign %: worst run, throughput/latency phase; '!' = above $FOREIGN_MAX % (noisy machine: treat those figures with care)."
if ((${#LAT_SKIP[@]})); then
	log "   sat: latency not measured, the arrival rate is above 80% of that proxy's one-core capacity (its req/CPU-s)."
fi
log ""
log "   memory (VmRSS, MiB; nginx = master + worker):"
for c in "${CASES[@]}"; do
	[[ $c == direct ]] && continue
	idle=n/a hold=n/a
	[[ -n ${RSS_IDLE[$c]:-} && -z ${NA[$c]:-} ]] && idle=$(calc "${RSS_IDLE[$c]}/1024" %.1f)
	[[ -n ${RSS_HOLD[$c]:-} ]] && hold="$(calc "${RSS_HOLD[$c]}/1024" %.1f) (${HOLD_INFO[$c]})"
	[[ $c == floodgate || $c == nginx ]] || hold="-"
	log "$(printf '   %-10s idle %6s   with %d idle conns %s' "$c" "$idle" "$HOLD_CONNS" "$hold")"
done
if ((${#NOTES[@]})); then
	log ""
	log "   notes:"
	for n in "${NOTES[@]}"; do log "   - $n"; done
fi

ratio_vs() {
	local peer=$1
	if [[ -z ${NA[floodgate]:-} && -z ${NA[$peer]:-} && -n ${M_RPC[floodgate]:-} && ${M_RPC[floodgate]} != n/a && -n ${M_RPC[$peer]:-} && ${M_RPC[$peer]} != n/a ]]; then
		calc "${M_RPC[floodgate]}/${M_RPC[$peer]}" %.2f
	else
		echo n/a
	fi
}
added=n/a
fp99=$(med L_P99 floodgate "$LAT_RUNS")
dp99=$(med L_P99 direct "$LAT_RUNS")
if [[ -z ${NA[floodgate]:-} && $fp99 != n/a && $dp99 != n/a ]]; then
	added=$(calc "$fp99 - $dp99" %.0f)
fi
rss_idle=n/a rss_hold=n/a
[[ -z ${NA[floodgate]:-} && -n ${RSS_IDLE[floodgate]:-} ]] && rss_idle=$(calc "${RSS_IDLE[floodgate]}/1024" %.1f)
[[ -n ${RSS_HOLD[floodgate]:-} ]] && rss_hold=$(calc "${RSS_HOLD[floodgate]}/1024" %.1f)
log ""
log "RESULT proxy floodgate_vs_nginx=$(ratio_vs nginx) floodgate_vs_haproxy=$(ratio_vs haproxy) floodgate_vs_caddy=$(ratio_vs caddy) added_p99_us=$added rss_idle_mb=$rss_idle rss_10k_conns_mb=$rss_hold"
