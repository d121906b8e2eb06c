#!/bin/bash
# 200 pin agents heartbeating against one `serve` on loopback (arcade: 0.5 s lease, 1.5 s grace).
B=${B:-target/release/pinsetter}; B=$(realpath "$B"); N=${N:-200}; SECS=${SECS:-30}
LANE=$(cd "$(dirname "$0")/.." && pwd)/tests/agents_lane.yaml
WORK=$(mktemp -d) && cd "$WORK"
$B serve --listen 127.0.0.1:0 --scenario "$LANE" > serve.out 2> serve.err & SERVE=$!
sleep 1; ADDR=$(grep -o 'http://[0-9.:]*' serve.err | head -1)
PIDS=()
for i in $(seq 1 $N); do RUST_LOG=pinsetter::agent=debug $B pin --join $ADDR --name load-$i --cpu 1 2> pin-$i.err & PIDS+=($!); done
sleep 5
t0=$(awk '{print $14+$15}' /proc/$SERVE/stat); s0=$(date +%s.%N)
sleep $SECS
t1=$(awk '{print $14+$15}' /proc/$SERVE/stat); s1=$(date +%s.%N)
TCK=$(getconf CLK_TCK)
echo "server CPU: $(python3 -c "print(round(100*($t1-$t0)/$TCK/($s1-$s0),1))") % of one core over ${SECS}s"
curl -s $ADDR/nodes | python3 -c "
import json,sys
items=json.load(sys.stdin)['items']
print('agents listed', len(items), 'connected', sum(i['connected'] for i in items), 'ready', sum(i['ready']=='Ready' for i in items), 'heartbeats', sum(i['heartbeats'] for i in items))"
curl -s "$ADDR/api/v1/events" | python3 -c "
import json,sys
ev=json.load(sys.stdin)['items']
print('NodeNotReady events for agents:', sum(1 for e in ev if e.get('reason')=='NodeNotReady' and e['involvedObject']['name'].startswith('load-')))"
kill ${PIDS[@]} 2>/dev/null; sleep 2; kill $SERVE
cat pin-*.err | sed 's/\x1b\[[0-9;]*m//g' | grep -o 'rtt_us=[0-9]*' | cut -d= -f2 | sort -n | python3 -c "
import sys
v=[int(x) for x in sys.stdin]
q=lambda p: v[min(len(v)-1,int(p*len(v)))]
print('heartbeat round trips', len(v), 'p50 %.2f ms p99 %.2f ms max %.2f ms' % (q(0.5)/1000, q(0.99)/1000, v[-1]/1000))"
