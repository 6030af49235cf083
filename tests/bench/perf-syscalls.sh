#!/bin/sh
# Cross-check `lab bench`'s system-call counters with the kernel's own count (Linux, perf).
#
# Runs `lab server` as a child of `perf stat`, drives it with `lab bench --addr`, stops it with
# SIGINT, and prints the kernel's per-syscall counts divided by the messages the server echoed
# (its summary counts them, warm-up included). Setup calls (accept4, setsockopt, the FIONBIO
# ioctl of set_nonblocking, close) are included in "all", so "all" is slightly above steady state.
#
# usage: tests/bench/perf-syscalls.sh kqueue|epoll PIPELINE MESSAGES [CONNECTIONS]
# needs: perf with tracepoints (try `perf stat -e raw_syscalls:sys_enter true`), ss.
set -eu
LAB=${LAB:-target/release/lab}
BACKEND=$1 PIPELINE=$2 MESSAGES=$3 CONNECTIONS=${4:-100}
OUT=$(mktemp -d)
EVENTS=raw_syscalls:sys_enter,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto
EVENTS=$EVENTS,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl
EVENTS=$EVENTS,syscalls:sys_enter_ioctl,syscalls:sys_enter_getsockopt
perf stat -x, -e "$EVENTS" -o "$OUT/perf" -- \
    "$LAB" server --port 0 --quiet --external --json --backend "$BACKEND" > "$OUT/summary" &
PERF=$!
SRV=""
while [ -z "$SRV" ]; do sleep 0.1; SRV=$(pgrep -P $PERF -x lab || true); done
PORT=""
while [ -z "$PORT" ]; do
    sleep 0.1
    PORT=$(ss -ltnpH | grep "pid=$SRV," | awk '{print $4}' | sed 's/.*://' || true)
done
"$LAB" bench --addr "127.0.0.1:$PORT" --connections "$CONNECTIONS" --messages "$MESSAGES" \
    --pipeline "$PIPELINE" --warmup 100 | grep echoed
kill -INT "$SRV"
wait $PERF
MSGS=$(grep -o '"messages":[0-9]*' "$OUT/summary" | cut -d: -f2)
echo "server --backend $BACKEND echoed $MSGS messages (warm-up included); kernel count per message:"
grep -v '^#' "$OUT/perf" | grep -v '^$' | awk -F, -v m="$MSGS" \
    '{ name=$3; sub(/.*sys_enter_?/, "", name); if (name == "") name = "all";
       printf "  %-12s %10d  %.3f\n", name, $1, $1 / m }'
rm -r "$OUT"
