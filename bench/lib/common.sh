# shellcheck shell=bash
# Shared helpers of the Floodgate benchmarks (sourced by bench/suites/*.sh).
#
# Process hygiene: every daemon is started by start_bg, which records its PID;
# on exit (normal, error, Ctrl-C, SIGTERM) the EXIT trap stops each of them by
# PID (SIGTERM, then SIGKILL after 5 s, including any children they forked)
# and removes the temp dir, silently, so that RESULT stays the last line.
# Nothing is ever killed by name.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
HZ=$(getconf CLK_TCK)
NCPU=$(getconf _NPROCESSORS_ONLN)

BG_PIDS=()
declare -A BG_NAME=()
TMP=""

log() { printf '%s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
	printf 'ERROR: %s\n' "$*" >&2
	exit 1
}

# calc EXPR [FORMAT]: floating-point arithmetic through awk.
calc() { awk -v fmt="${2:-%.2f}" "BEGIN { printf fmt, ($1) }"; }

# ---------------------------------------------------------------- lifecycle

setup_tmp() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/floodgate-bench.XXXXXX")
	trap cleanup EXIT
	set -E
	trap 'printf "ERROR: %s:%s: command failed (status %s): %s\n" "${BASH_SOURCE[0]##*/}" "$LINENO" "$?" "$BASH_COMMAND" >&2' ERR
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	if [[ ${KEEP_TMP:-0} == 1 ]]; then
		log "   KEEP_TMP=1: configs and logs stay in $TMP"
	fi
	return 0
}

cleanup() {
	local rc=$? i
	set +e
	trap - INT TERM HUP ERR
	for ((i = ${#BG_PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${BG_PIDS[i]}"
	done
	if [[ -n $TMP && -d $TMP ]]; then
		[[ ${KEEP_TMP:-0} == 1 ]] || rm -rf "$TMP"
	fi
	exit "$rc"
}

# start_bg NAME LOGFILE CMD...: run CMD in the background, output to LOGFILE.
# Sets BG_PID.
start_bg() {
	local name=$1 logf=$2
	shift 2
	"$@" >"$logf" 2>&1 </dev/null &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
	BG_NAME[$BG_PID]=$name
}

alive() { kill -0 "$1" 2>/dev/null; }

# running PID: alive and not a zombie (a killed child stays "alive" for kill -0
# until the shell reaps it with wait).
running() {
	local st
	alive "$1" || return 1
	st=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z ]]
}

# descendants PID: PIDs of all live descendants (sets DESC array).
descendants() {
	DESC=()
	local -a stack=("$1") kids
	local p t
	while ((${#stack[@]})); do
		p=${stack[-1]}
		unset 'stack[-1]'
		for t in /proc/"$p"/task/*/children; do
			[[ -r $t ]] || continue
			kids=()
			read -r -a kids 2>/dev/null <"$t" || true
			if ((${#kids[@]})); then
				DESC+=("${kids[@]}")
				stack+=("${kids[@]}")
			fi
		done
	done
}

# stop_pid PID: SIGTERM the process (and its descendants), SIGKILL after 5 s.
stop_pid() {
	local pid=$1 i d
	alive "$pid" || {
		wait "$pid" 2>/dev/null || true
		return 0
	}
	descendants "$pid"
	local -a desc=("${DESC[@]}")
	kill -TERM "$pid" 2>/dev/null || true
	kill -CONT "$pid" 2>/dev/null || true # a stopped process (kill -STOP) acts on SIGTERM only once resumed
	for ((i = 0; i < 50; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	for d in "${desc[@]}"; do
		alive "$d" && kill -KILL "$d" 2>/dev/null
	done
	wait "$pid" 2>/dev/null || true
	return 0
}

# ---------------------------------------------------------------- setup

# ensure_tools BIN:PKG...: apt-get install the packages whose binary is missing.
ensure_tools() {
	local spec bin pkg missing=()
	for spec in "$@"; do
		bin=${spec%%:*} pkg=${spec#*:}
		command -v "$bin" >/dev/null 2>&1 || missing+=("$pkg")
	done
	((${#missing[@]})) || return 0
	log "installing: ${missing[*]}"
	local sudo=()
	((EUID == 0)) || sudo=(sudo)
	if ! "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y "${missing[@]}"; then
		warn "apt-get install ${missing[*]} failed; the benchmark continues without what is missing"
	fi
}

# raise_nofile N: raise the open-file limit (soft and hard) to N if possible.
raise_nofile() {
	local want=$1 hard
	hard=$(ulimit -Hn)
	if [[ $hard != unlimited ]] && ((hard < want)); then
		ulimit -Hn "$want" 2>/dev/null || want=$hard
	fi
	ulimit -Sn "$want" 2>/dev/null || true
}

# dur_seconds 10s|2m|10: a duration in whole seconds.
dur_seconds() {
	case $1 in
	*[!0-9smh]* | "" | [smh]*) return 1 ;;
	*s) echo "${1%s}" ;;
	*m) echo $((${1%m} * 60)) ;;
	*h) echo $((${1%h} * 3600)) ;;
	*) echo "$1" ;;
	esac
}

# ---------------------------------------------------------------- /proc sampling
# All of these use shell builtins only (no fork), so that sampling does not
# itself show up as CPU time.

# pid_ticks PID: utime+stime+cutime+cstime of one process -> REPLY.
pid_ticks() {
	local line
	local -a f
	REPLY=0
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
	read -r -a f <<<"${line##*) }"
	REPLY=$((f[11] + f[12] + f[13] + f[14]))
}

# tree_ticks PID: CPU ticks of PID and all its live descendants -> REPLY.
# (Descendants that exited are in their parent's cutime/cstime.)
tree_ticks() {
	local total=0 p
	descendants "$1"
	for p in "$1" "${DESC[@]}"; do
		pid_ticks "$p"
		total=$((total + REPLY))
	done
	REPLY=$total
}

# self_child_ticks: CPU ticks of this shell's waited-for children (wrk,
# loadgen run in the foreground) -> REPLY.
self_child_ticks() {
	local line
	local -a f
	read -r line <"/proc/$$/stat"
	read -r -a f <<<"${line##*) }"
	REPLY=$((f[13] + f[14]))
}

# machine_ticks: sets M_BUSY and M_TOTAL (all CPUs) from /proc/stat.
machine_ticks() {
	local cpu user nice system idle iowait irq softirq steal rest
	read -r cpu user nice system idle iowait irq softirq steal rest </proc/stat
	M_BUSY=$((user + nice + system + irq + softirq + steal))
	M_TOTAL=$((M_BUSY + idle + iowait))
}

# rss_kb PID: VmRSS of PID plus its live descendants, in KiB -> REPLY.
rss_kb() {
	local total=0 p k v unit
	descendants "$1"
	for p in "$1" "${DESC[@]}"; do
		while read -r k v unit; do
			if [[ $k == VmRSS: ]]; then
				total=$((total + v))
				break
			fi
		done 2>/dev/null <"/proc/$p/status" || true
	done
	REPLY=$total
}

# kernel_net_pids: PIDs of the ksoftirqd threads (their CPU is network
# processing caused by the benchmark, not foreign load) -> KNET_PIDS.
kernel_net_pids() {
	KNET_PIDS=()
	local d comm
	for d in /proc/[0-9]*; do
		{ read -r comm <"$d/comm"; } 2>/dev/null || continue
		[[ $comm == ksoftirqd/* ]] && KNET_PIDS+=("${d#/proc/}")
	done
	return 0
}

knet_ticks() {
	local total=0 p
	for p in "${KNET_PIDS[@]}"; do
		pid_ticks "$p"
		total=$((total + REPLY))
	done
	REPLY=$total
}

# ---------------------------------------------------------------- measured runs
# These use FOREIGN_MAX (%), QUIET_WAIT and QUIET_BUDGET (s), RETRIES and
# RETRY_BUDGET, which the suite sets.

# wait_quiet: before a measured run, wait while the machine is busy with
# other work (our daemons are idle between runs), at most QUIET_WAIT seconds
# per run and QUIET_BUDGET seconds in all.
wait_quiet() {
	local waited=0 b0 t0 busy said=0
	while ((waited < QUIET_WAIT * 2 && QUIET_SPENT < QUIET_BUDGET * 2)); do
		machine_ticks
		b0=$M_BUSY t0=$M_TOTAL
		sleep 0.5
		machine_ticks
		busy=$(calc "100*($M_BUSY-$b0)/(($M_TOTAL-$t0) > 0 ? ($M_TOTAL-$t0) : 1)" %.0f)
		((busy <= FOREIGN_MAX)) && break
		if ((!said)); then
			log "   machine ${busy}% busy with other work: waiting up to ${QUIET_WAIT}s for it to quiet down"
			said=1
		fi
		waited=$((waited + 1)) QUIET_SPENT=$((QUIET_SPENT + 1))
	done
	return 0
}
QUIET_SPENT=0 # half-seconds

# retry_noisy FOREIGN_PCT ATTEMPT: whether to repeat a run whose foreign CPU
# was above FOREIGN_MAX (at most RETRIES times per run, RETRY_BUDGET in all).
retry_noisy() {
	local f=$1 attempt=$2
	(($(calc "$f <= $FOREIGN_MAX" %d))) && return 1
	if ((attempt >= RETRIES || RETRY_BUDGET <= 0)); then
		return 1
	fi
	RETRY_BUDGET=$((RETRY_BUDGET - 1))
	log "   foreign CPU ${f}% > ${FOREIGN_MAX}%: noisy, repeating"
	return 0
}

# median N...: the median of numbers (n/a when none).
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.10g\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# build_floodgate: $TMP/floodgate from FLOODGATE_BIN, else built from the
# working tree. On a build failure FG_NA says so (the suite then prints its
# RESULT line with n/a values) instead of dying.
build_floodgate() {
	FG_NA=""
	if [[ -n ${FLOODGATE_BIN:-} ]]; then
		[[ -x $FLOODGATE_BIN ]] || die "FLOODGATE_BIN=$FLOODGATE_BIN is not an executable"
		cp "$FLOODGATE_BIN" "$TMP/floodgate"
		log "   floodgate: using FLOODGATE_BIN=$FLOODGATE_BIN (not built)"
	elif (cd "$ROOT" && go build -o "$TMP/floodgate" ./cmd/floodgate) >"$TMP/floodgate-build.log" 2>&1; then
		log "   floodgate built ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo 'no commit yet'); working tree as is)"
	else
		FG_NA="build failed"
		log "   floodgate: build failed:"
		head -n 12 "$TMP/floodgate-build.log" | sed 's/^/     | /'
	fi
}
