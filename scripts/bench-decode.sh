#!/usr/bin/env bash
# Decode and ingest figures for docs/performance.md (make bench).
#
# Makes camera-like H.264 clips (25 fps, 2 s GOP, no B-frames) at 720p and
# 1080p from the campus footage, times `ffmpeg -threads 1` decoding them
# (user+sys CPU per frame, best of 5) and runs the Go benchmarks on the very
# same files, then prints ours/ffmpeg. Also: idle key-frame mode vs all
# frames on a still scene, and the full RTSP ingest path over loopback.
# BENCH_SOAK=1 adds the 16-camera soak test (about 40 s).
#
# Environment: LANEWATCH_BENCH_CACHE (clip folder), GO_TEST_FLAGS (extra
# flags for go test), BENCH_COUNT (Go benchmark repetitions, default 5).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CACHE=${LANEWATCH_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lanewatch/bench}
COUNT=${BENCH_COUNT:-5}
GO_TEST_FLAGS=${GO_TEST_FLAGS:-}
mkdir -p "$CACHE"

SRC=$ROOT/media/campus-walk-10s.mp4
[ -f "$SRC" ] || SRC=${LANEWATCH_SHARED:-$ROOT/../shared}/media/campus-walk-30s.mp4
[ -f "$SRC" ] || { echo "bench-decode: no campus footage (media/ or ../shared/media/)" >&2; exit 1; }

# clip NAME WIDTH HEIGHT [still]: raw Annex-B with access unit delimiters.
clip() {
	local out=$CACHE/$1.h264 vf
	if [ ! -s "$out" ]; then
		if [ "${4:-}" = still ]; then
			vf="trim=end_frame=1,loop=loop=-1:size=1:start=0,setpts=N/(25*TB),scale=$2:$3"
			ffmpeg -hide_banner -loglevel error -y -i "$SRC" -vf "$vf" -r 25 -t 20 -an \
				-c:v libx264 -preset veryfast -bf 0 -g 50 -keyint_min 50 -sc_threshold 0 \
				-bsf:v h264_metadata=aud=insert -f h264 "$out.tmp"
		else
			ffmpeg -hide_banner -loglevel error -y -stream_loop -1 -i "$SRC" -vf "fps=25,scale=$2:$3" -t 20 -an \
				-c:v libx264 -preset veryfast -bf 0 -g 50 -keyint_min 50 -sc_threshold 0 \
				-bsf:v h264_metadata=aud=insert -f h264 "$out.tmp"
		fi
		mv "$out.tmp" "$out"
	fi
	echo "$out"
}

C720=$(clip c720p-20s 1280 720)
C1080=$(clip c1080p-20s 1920 1080)
STILL=$(clip still720p-20s 1280 720 still)

frames() { ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets -of csv=p=0 "$1"; }

# ffcpu CLIP [ARGS...]: best-of-5 user+sys CPU seconds of one ffmpeg run.
ffcpu() {
	local clip=$1 best="" t
	shift
	for _ in 1 2 3 4 5; do
		t=$( { /usr/bin/time -f "%U %S" ffmpeg -hide_banner -loglevel error -threads 1 -i "$clip" "$@" -f null - ; } 2>&1 | tail -1 | awk '{print $1 + $2}')
		best=$(awk -v a="${best:-1e18}" -v b="$t" 'BEGIN{print (b < a) ? b : a}')
	done
	echo "$best"
}

# ffmpeg_ns CLIP [ARGS...]: ffmpeg's marginal CPU ns per frame. The cost of
# the first GOP (process start, probing, library set-up) is measured apart
# and subtracted, as the Go benchmarks also exclude their warm-up.
ffmpeg_ns() {
	local clip=$1 n all head
	shift
	n=$(frames "$clip")
	all=$(ffcpu "$clip" "$@")
	head=$(ffcpu "$clip" "$@" -frames:v 50)
	awk -v a="$all" -v h="$head" -v n="$n" 'BEGIN{printf "%.0f", (a - h) * 1e9 / (n - 50)}'
}

# go_ns OUTPUT NAME: best cpu-ns/frame of a benchmark in go test output.
go_ns() { awk -v name="$2" '$1 ~ "^"name"(-[0-9]+)?$" { for (i = 2; i < NF; i++) if ($(i+1) == "cpu-ns/frame") { v = $i; if (best == "" || v < best) best = v } } END { print best }' <<<"$1"; }
go_allocs() { awk -v name="$2" '$1 ~ "^"name"(-[0-9]+)?$" { for (i = 2; i < NF; i++) if ($(i+1) == "allocs/op") a = $i } END { print a }' <<<"$1"; }

echo "== lanewatch decode/ingest benchmark ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ))"
echo "clips: $C720 $C1080 $STILL ($(frames "$C720") frames each, 25 fps, GOP 50, no B-frames)"

FF720=$(ffmpeg_ns "$C720")
FF1080=$(ffmpeg_ns "$C1080")
FF720S=$(ffmpeg_ns "$C720" -filter_threads 1 -vf scale=640:-2:flags=fast_bilinear -pix_fmt bgr24)
FF1080S=$(ffmpeg_ns "$C1080" -filter_threads 1 -vf scale=640:-2:flags=fast_bilinear -pix_fmt bgr24)

# ffmpeg reading the same clip in real time over RTSP from lanewatch's own
# simulator: the like-for-like baseline for the ingest path (network reads,
# depacketising, real-time pacing with cold caches between frames). Marginal
# cost: a 12 s read minus a 2 s read, over the 10 s of frames between them.
ffmpeg_rtsp_ns() {
	local addr=127.0.0.1:18599 pid long short
	go build -o "$CACHE/lanewatch-bench" ./cmd/lanewatch
	"$CACHE/lanewatch-bench" camsim --listen "$addr" c="$1" >/dev/null 2>&1 &
	pid=$!
	sleep 1
	rt() { /usr/bin/time -f '%U %S' ffmpeg -hide_banner -loglevel error -threads 1 -rtsp_transport tcp -i "rtsp://$addr/c" -t "$1" \
		-filter_threads 1 -vf scale=640:-2:flags=fast_bilinear -pix_fmt bgr24 -f null - 2>&1 | tail -1 | awk '{print $1 + $2}'; }
	short=$(rt 2)
	long=$(rt 12)
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	awk -v a="$long" -v b="$short" 'BEGIN{printf "%.0f", (a - b) * 1e9 / (10 * 25)}'
}
FFRTSP=$(ffmpeg_rtsp_ns "$C720")

export LANEWATCH_BENCH_720P=$C720 LANEWATCH_BENCH_1080P=$C1080 LANEWATCH_BENCH_STILL720P=$STILL
# shellcheck disable=SC2086
DEC=$(go test $GO_TEST_FLAGS -run '^$' -bench 'Decode|Still' -benchtime 500x -count "$COUNT" ./internal/decode/)
# shellcheck disable=SC2086
ING=$(go test $GO_TEST_FLAGS -run '^$' -bench 'Ingest(720|1080)p/(every|analyse)|IdleWake' -benchtime 250x -count 2 ./internal/camera/)
# shellcheck disable=SC2086
ING="$ING
$(go test $GO_TEST_FLAGS -run '^$' -bench 'Ingest(720|1080)p/flood' -benchtime 2000x -count 2 ./internal/camera/)"
# Idle mode through the whole camera (RTSP, size wake watching): 10 s a run.
# shellcheck disable=SC2086
ING="$ING
$(go test $GO_TEST_FLAGS -run '^$' -bench 'IngestStill720p' -benchtime 250x -count 2 ./internal/camera/)"
echo "$DEC" | grep '^Benchmark'
echo "$ING" | grep '^Benchmark'

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / b}'; }
O720=$(go_ns "$DEC" BenchmarkDecode720p/scale640)
O1080=$(go_ns "$DEC" BenchmarkDecode1080p/scale640)
D720=$(go_ns "$DEC" BenchmarkDecode720p/decodeonly)
D1080=$(go_ns "$DEC" BenchmarkDecode1080p/decodeonly)
SALL=$(go_ns "$DEC" BenchmarkStill720p/all)
SKEY=$(go_ns "$DEC" BenchmarkStill720p/keyframes)
I720=$(go_ns "$ING" BenchmarkIngest720p/every)
I720A=$(go_ns "$ING" BenchmarkIngest720p/analyse5fps)
I720P=$(go_ns "$ING" BenchmarkIngest720p/analyse5fps-perpacket)
WAKE=$(go_ns "$ING" BenchmarkIdleWake)
F720=$(go_ns "$ING" BenchmarkIngest720p/flood1in5)
F1080=$(go_ns "$ING" BenchmarkIngest1080p/flood1in5)
I1080=$(go_ns "$ING" BenchmarkIngest1080p/every)
I1080P=$(go_ns "$ING" BenchmarkIngest1080p/analyse5fps-perpacket)
I1080A=$(go_ns "$ING" BenchmarkIngest1080p/analyse5fps)

echo
printf '%-44s %12s %12s %8s\n' "CPU per frame (ns, best of runs)" lanewatch ffmpeg ratio
printf '%-44s %12s %12s %8s\n' "720p decode only" "$D720" "$FF720" "$(ratio "$D720" "$FF720")"
printf '%-44s %12s %12s %8s\n' "1080p decode only" "$D1080" "$FF1080" "$(ratio "$D1080" "$FF1080")"
printf '%-44s %12s %12s %8s\n' "720p decode + scale to 640 BGR" "$O720" "$FF720S" "$(ratio "$O720" "$FF720S")"
printf '%-44s %12s %12s %8s\n' "1080p decode + scale to 640 BGR" "$O1080" "$FF1080S" "$(ratio "$O1080" "$FF1080S")"
printf '%-44s %12s %12s %8s\n' "720p decode + scale vs ffmpeg decode only" "$O720" "$FF720" "$(ratio "$O720" "$FF720")"
printf '%-44s %12s %12s %8s\n' "720p RTSP ingest, every frame converted" "$I720" "$FF720" "$(ratio "$I720" "$FF720")"
printf '%-44s %12s %12s %8s\n' "  same vs ffmpeg decode+scale (file)" "$I720" "$FF720S" "$(ratio "$I720" "$FF720S")"
printf '%-44s %12s %12s %8s\n' "  same vs ffmpeg reading RTSP, scaling" "$I720" "$FFRTSP" "$(ratio "$I720" "$FFRTSP")"
printf '%-44s %12s %12s %8s\n' "720p RTSP ingest, analysis at 5 of 25 fps" "$I720A" "$FF720" "$(ratio "$I720A" "$FF720")"
printf '%-44s %12s %12s %8s\n' "  same vs ffmpeg reading RTSP, scaling" "$I720A" "$FFRTSP" "$(ratio "$I720A" "$FFRTSP")"
printf '%-44s %12s %12s %8s\n' "  same, read packet by packet (no batches)" "$I720P" "$FF720" "$(ratio "$I720P" "$FF720")"
printf '%-44s %12s %12s %8s\n' "1080p RTSP ingest, every frame converted" "$I1080" "$FF1080" "$(ratio "$I1080" "$FF1080")"
printf '%-44s %12s %12s %8s\n' "1080p RTSP ingest, analysis at 5 of 25 fps" "$I1080A" "$FF1080" "$(ratio "$I1080A" "$FF1080")"
printf '%-44s %12s %12s %8s\n' "  same, read packet by packet (no batches)" "$I1080P" "$FF1080" "$(ratio "$I1080P" "$FF1080")"
printf '%-44s %12s %12s %8s\n' "720p RTSP ingest flat out (never idle), 1 in 5" "$F720" "$FF720" "$(ratio "$F720" "$FF720")"
printf '%-44s %12s %12s %8s\n' "1080p RTSP ingest flat out, 1 in 5 converted" "$F1080" "$FF1080" "$(ratio "$F1080" "$FF1080")"
printf '%-44s %12s %12s %8s\n' "idle Go process waking every 40 ms (a wake)" "$WAKE" "$FF720" "$(ratio "$WAKE" "$FF720")"
printf '%-44s %12s %12s %8s\n' "still 720p: key frames only vs all frames" "$SKEY" "$SALL" "$(ratio "$SKEY" "$SALL")"
ISALL=$(go_ns "$ING" BenchmarkIngestStill720p/all)
ISIDLE=$(go_ns "$ING" BenchmarkIngestStill720p/idle)
printf '%-44s %12s %12s %8s\n' "still 720p RTSP ingest: idle (+wake) vs all" "$ISIDLE" "$ISALL" "$(ratio "$ISIDLE" "$ISALL")"
echo "allocs per frame: decode+scale $(go_allocs "$DEC" BenchmarkDecode720p/scale640), ingest $(go_allocs "$ING" BenchmarkIngest720p/every)"
echo "targets: ingest + decode + scale <= 1.15x ffmpeg's decode only; key frames only <= 0.25x"

if [ "${BENCH_SOAK:-0}" = 1 ]; then
	# shellcheck disable=SC2086
	go test $GO_TEST_FLAGS -tags soak -run TestSoak16 -count 1 -v ./internal/camera/ | grep -E '^soak:|FAIL|ok'
fi
