#!/usr/bin/env bash
# Installs what lanewatch needs to build, run and test on Debian 12, idempotently:
# quick (a few dpkg queries) when everything is already there.
set -euo pipefail

APT_PACKAGES=(
  gcc g++ pkg-config make git ca-certificates time
  libopencv-dev opencv-data
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg
  mosquitto
  chromium fonts-wqy-microhei
  systemd # systemd-analyze and systemd-sysusers: deploy/deploy_test.go checks the unit
)
INFLUXD_VERSION=v1.8.10
CACHE_DIR=${LANEWATCH_CACHE:-$HOME/.cache/lanewatch}
INFLUXD=$CACHE_DIR/influxd/bin/influxd

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  # Debian starts a system Mosquitto on :1883 where an init system runs; the
  # gateway's embedded broker and the tests bring their own brokers.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
    $SUDO systemctl disable --now mosquitto || true
  fi
fi

# InfluxDB 1.8.10 serves the /api/v2 write and Flux query endpoints that
# influxdb-client-go/v2 uses. Debian does not ship it, so it is built from the
# Go module proxy once and cached.
# `go install` leaves no version in the binary, so a stamp file records it.
STAMP=$CACHE_DIR/influxd/VERSION
if [ ! -x "$INFLUXD" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$INFLUXD_VERSION" ]; then
  echo "deps: building influxd $INFLUXD_VERSION into $CACHE_DIR (about 3 minutes, once)"
  mkdir -p "$CACHE_DIR/influxd/bin"
  (cd /tmp && GOBIN="$CACHE_DIR/influxd/bin" GOFLAGS=-mod=mod go install "github.com/influxdata/influxdb/cmd/influxd@$INFLUXD_VERSION")
  echo "$INFLUXD_VERSION" >"$STAMP"
fi
echo "deps: ok (influxd: $INFLUXD)"
