#!/usr/bin/env bash
# Reading in key ranges against the binary COPY pipe, with the source behind a
# proxy that caps each connection at MBPS MB/s (a long network path), and
# without it. Uses what `bench --keep --paths pg-pg-full` left:
#
#   BENCH_DB=dsp_bench_a target/release/examples/bench --rows 1000000 --runs 1 --keep --paths pg-pg-full
#   bench/key_ranges.sh /tmp/dsp_bench_NNNN dsp_bench_a [MBPS] [ROUNDS]
#
# Prints each timing, alternating the pipe and DSP with 1, 2 and 4 ranges.
set -euo pipefail
dir=$1
db=$2
mbps=${3:-20}
rounds=${4:-2}
dsp=${DSP_BIN:-$(dirname "$0")/../target/release/dsp}
port=6543
pg="psql -h 127.0.0.1 -U postgres -X -q"

python3 "$(dirname "$0")/throttle_proxy.py" --listen $port --to 127.0.0.1:5432 --mbps "$mbps" &
proxy=$!
trap 'kill $proxy' EXIT
sleep 1
sed "/name = \"pg_src\"/,/^port/ s/^port = 5432/port = $port/" "$dir/workspace.toml" >"$dir/workspace-ranges.toml"
$pg -d "${db}_dst" -c "CREATE TABLE IF NOT EXISTS users_pipe_ranges (LIKE users_dsp INCLUDING ALL)"

timed() {
  local s e
  s=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  e=$(date +%s.%N)
  echo "$e - $s" | bc
}

for via in proxy direct; do
  p=$([ $via = proxy ] && echo $port || echo 5432)
  ws=$([ $via = proxy ] && echo "$dir/workspace-ranges.toml" || echo "$dir/workspace.toml")
  for r in $(seq "$rounds"); do
    $pg -d "${db}_dst" -c "TRUNCATE users_pipe_ranges"
    t=$(timed bash -c "psql -h 127.0.0.1 -p $p -U postgres -d ${db}_src -c '\\copy users to stdout with (format binary)' \
      | psql -h 127.0.0.1 -U postgres -d ${db}_dst -c '\\copy users_pipe_ranges from stdin with (format binary)'")
    echo "$via round $r: binary pipe ${t}s"
    for n in 1 2 4; do
      $pg -d "${db}_dst" -c "TRUNCATE users_dsp"
      t=$(timed env DSP_READ_RANGES=$n "$dsp" --workspace "$ws" --data-dir "$dir/data" run pg-pg-full)
      echo "$via round $r: dsp, $n range(s) ${t}s"
    done
  done
done
