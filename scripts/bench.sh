#!/usr/bin/env bash
# make bench: every performance figure of docs/performance.md, each printed
# beside the baseline it is judged against, measured in this same run.
# Heavy; run it on an otherwise idle machine. BENCH_QUICK=1 shortens runs.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
q=${BENCH_QUICK:-}
n() { if [ -n "$q" ]; then echo "$2"; else echo "$1"; fi; }
status=0
section() { printf '\n==== %s\n' "$*"; }
run() { echo "+ $*"; "$@" || { echo "FAILED: $*"; status=1; }; }

section "Camera ingest and decode vs ffmpeg -threads 1 (issue 3)"
BENCH_SOAK=${BENCH_SOAK:-1} run bash scripts/bench-decode.sh

section "Continuous recording, 16 x 1080p at 4 Mbit/s, CPU beyond delivery (issue 14)"
run env LANEWATCH_RECORD_BENCH="$(n 20s 10s)" go test -run '^$' -bench Record16 -benchtime 1x -count "$(n 2 1)" ./internal/recording

section "Frame handoff"
run go test -run '^$' -bench . -benchmem -benchtime "$(n 2000x 200x)" ./internal/frames

section "Detection loop: motion, detectors, tracker, whole loop (issue 6)"
run go test -run '^$' -bench . -benchmem -benchtime "$(n 300x 50x)" -count "$(n 3 1)" ./internal/motion
run go test -run '^$' -bench 'HOG|DNN' -benchmem -benchtime "$(n 30x 5x)" ./internal/detect
# Each variant in a fresh process: freed memory is reused within one.
for v in xl/pool2 xl/own nano/pool2 nano/own; do
  run go test -run '^$' -bench "PoolMemory/$v\$" -benchtime 1x ./internal/detect
done
run go test -run '^$' -bench ForwardBatch -benchtime "$(n 20x 5x)" -count 2 ./internal/detect
run go test -run '^$' -bench . -benchmem ./internal/track
run go test -run '^$' -bench Loop -benchmem -benchtime "$(n 200x 30x)" ./internal/analytics
run env LANEWATCH_SOAK_DURATION="$(n 45s 15s)" go test -tags soak -run 'TestLoop16$' -count 1 -v -timeout 10m ./internal/analytics

section "Sub-streams and 32 cameras (issue 15)"
# 8 busy cameras on their 1080p main streams vs with 640x360 sub-streams, same process, alternating.
run env LANEWATCH_SOAK_DURATION="$(n 30s 10s)" LANEWATCH_LOOP16_REPEAT="$(n 2 1)" go test -tags soak -run 'TestLoopSubVsMain$' -count 1 -v -timeout 15m ./internal/analytics
# 32 cameras, 1080p main + 360p sub: the default detector (HOG), then Yolo-Fastest body through the pool (RSS).
for det in hog body; do
  run env LANEWATCH_LOOP16_CAMS=32 LANEWATCH_LOOP16_SUB=1 LANEWATCH_LOOP16_DETECTOR=$det LANEWATCH_SOAK_DURATION="$(n 45s 15s)" go test -tags soak -run 'TestLoop16$' -count 1 -v -timeout 10m ./internal/analytics
done

section "Gate sensors through Mosquitto (issue 4)"
run go test -run '^$' -bench 'Ingest|Decode' -benchtime "$(n 20000x 2000x)" ./internal/sensors
run go test -run '^$' -bench . -benchtime 2s ./internal/vehicles
run go test -run '^$' -bench . -benchtime 200000x ./internal/influx

section "Incidents and the outbox (issue 5)"
run go test -run '^$' -bench 'Raise|Handle' ./internal/incidents
run go test -run '^$' -bench 'Drain|Baseline|Enqueue' -benchtime "$(n 10000x 2000x)" ./internal/outbox
[ -n "$q" ] || run go test -tags soak -run Soak -v -timeout 20m ./internal/outbox

section "Event to alert and to ticket, whole gateway (issues 4 and 5)"
run go test -run '^$' -bench 'SOSTo' -benchtime "$(n 300x 50x)" ./internal/gateway
[ -n "$q" ] || run env LANEWATCH_KILL9_RUNS=10 go test -tags soak -run TestSoakEmbeddedKill9 -v -timeout 30m ./internal/gateway

section "Several gateways: time-to-takeover after kill -9, three processes (issue 16)"
[ -n "$q" ] || run env LANEWATCH_CLUSTER_RUNS=10 go test -tags soak -run TestSoakClusterTakeover -v -timeout 30m ./internal/gateway

section "Several gateways: one incident change into the site's bucket and seen, one JetStream server (issue 16)"
run go test -run '^$' -bench PutSync -benchtime "$(n 3000x 300x)" -count 2 ./internal/siteincidents

section "Web Push: one encrypted, VAPID-signed push to a loopback push service (issue 13)"
run go test -run '^$' -bench Push -benchtime "$(n 2000x 200x)" ./internal/webpush

section "Monitor wall: MJPEG fan-out and SSE (issue 7)"
run go test -run '^$' -bench 'Console' -benchtime 1x ./internal/console

section "Playback start, click to first frame in Chromium (issue 14)"
run go test -run '^$' -bench 'PlaybackStart' -benchtime 1x -count "$(n 3 1)" ./internal/console

exit $status
