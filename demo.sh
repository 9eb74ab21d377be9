#!/usr/bin/env bash
# Runs 436 end to end on this machine: builds the release binaries, starts a
# supervisor and an observer on loopback, writes lines to a log file the
# observer follows, and shows the events arriving in the event stream.
#
#   ./demo.sh            # about 20 seconds, then everything is stopped
#   DEMO_SECONDS=60 ./demo.sh
set -euo pipefail
cd "$(dirname "$0")"

seconds=${DEMO_SECONDS:-20}
port=${DEMO_PORT:-19400}

echo "== building release binaries"
cargo build --release -q -p supervisor -p observer
# Wherever cargo puts its output (CARGO_TARGET_DIR, .cargo/config.toml).
target_dir=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin=$target_dir/release
if [[ ! -x $bin/supervisor || ! -x $bin/observer ]]; then
  echo "demo.sh: the binaries are not in $bin" >&2
  exit 1
fi

work=$(mktemp -d -t 436-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "== demo files kept in $work"
}
trap cleanup EXIT INT TERM

mkdir -p "$work/hosts" "$work/stream" "$work/observer"
cp -r includes_436 "$work/includes"
cat > "$work/ax436.conf" <<CONF
# A supervisor for this machine only: beacons on loopback.
event_stream: stream/events.436
port: $port
broadcast: 127.255.255.255
hosts: hosts
includes: includes
beacon_interval: 1
max_idle: 60
stream_format: 436
stream_rotation: never
log_file: supervisor.log
CONF
cat > "$work/hosts/demo" <<HOST
# Every ERROR line of the demo application is an event.
file: $work/app.log
match: ERROR
match: FATAL
alert_all: tags=demo,app

# Metrics read in-process: how full the root file system is and how much
# memory is in use, in percent, once a minute.
metric: disk /
alert_metric: tags=demo,disk

metric: memory
alert_metric: tags=demo,memory

# At least one shell must be running.
process: (^|/)(ba|da)?sh( |\$)
alert_running: tags=demo,proc min=1 max=10000 message=shell processes
HOST

echo "== checking the configuration"
"$bin/supervisor" --check "$work/ax436.conf"

echo "== starting the supervisor (UDP $((port + 1))) and an observer named demo"
"$bin/supervisor" "$work/ax436.conf" 2>"$work/supervisor.stderr" &
pids+=($!)
(cd "$work/observer" && exec "$bin/observer" "$port" --name demo) 2>"$work/observer.stderr" &
pids+=($!)

echo "== writing to $work/app.log for $seconds s; events as the supervisor writes them:"
touch "$work/stream/events.436"
tail -n +1 -F "$work/stream/events.436" 2>/dev/null &
pids+=($!)
for i in $(seq 1 "$seconds"); do
  sleep 1
  echo "$(date '+%F %T') INFO request $i served" >> "$work/app.log"
  if (( i % 3 == 0 )); then
    echo "$(date '+%F %T') ERROR request $i failed: upstream timed out" >> "$work/app.log"
  fi
done
sleep 1
echo "== $(grep -c 'ERROR' "$work/app.log") ERROR lines written; $(grep -c '%%demo,app%%' "$work"/stream/events.436* || true) alert events in the stream"
