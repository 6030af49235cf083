#!/bin/sh
# The server's own memory (Linux): `lab server` as a separate process, its VmRSS when idle and
# its peak (VmHWM) after N connections have each echoed messages through `lab bench --addr`.
#
# usage: tests/bench/server-rss.sh kqueue|epoll CONNECTIONS
set -eu
LAB=${LAB:-target/release/lab}
BACKEND=$1 CONNECTIONS=$2
"$LAB" server --port 0 --quiet --external --backend "$BACKEND" > /dev/null &
SRV=$!
PORT=""
while [ -z "$PORT" ]; do
    sleep 0.1
    PORT=$(ss -ltnpH | grep "pid=$SRV," | awk '{print $4}' | sed 's/.*://' || true)
done
IDLE=$(awk '/VmRSS/ {print $2}' /proc/$SRV/status)
"$LAB" bench --addr "127.0.0.1:$PORT" --connections "$CONNECTIONS" --messages 200 --warmup 10 \
    | grep echoed
PEAK=$(awk '/VmHWM/ {print $2}' /proc/$SRV/status)
kill -INT $SRV
wait $SRV || true
echo "--backend $BACKEND, $CONNECTIONS connections: idle VmRSS $IDLE KiB, peak VmHWM $PEAK KiB," \
     "above idle $((PEAK - IDLE)) KiB ($(( (PEAK - IDLE) / CONNECTIONS )) KiB per connection)"
