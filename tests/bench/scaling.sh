#!/usr/bin/env bash
# scaling.sh HEAPLAY DIR: how heaplay's time and memory grow (issue 9's
# scaling figures, kept in docs/performance.md under "Scaling").
#
#   1. trace length: steady traces (a live set of about 50,000 blocks for the
#      whole length) of 10M, 100M and 1B records through stats and replay;
#      time should grow linearly (ns/record flat), peak RSS not at all.
#      $HEAPLAY_SCALING_SIZES overrides the sizes (records); the 1B trace
#      takes ~2 GB in DIR and about 2 minutes to make.
#   2. memory per live block: traces that allocate N blocks (or objects),
#      then free them all; (peak RSS at 4M - peak RSS at 1M) / 3M.
#   3. compare of 4 stacks with --jobs 1 and --jobs 2 (tests/bench/interleave.py).
#
# Peak RSS is /usr/bin/time's %M (the process's high-water mark).
set -euo pipefail
heaplay=$1
dir=$2
sizes=${HEAPLAY_SCALING_SIZES:-"10000000 100000000 1000000000"}

# The steady generator (also perf.sh's): N records, ids below 100,000,
# each record frees its id if live, else allocates it (16-515 bytes).
cc -O2 "$(dirname "$0")/steady.c" -o "$dir/steady"

# "LABEL: S s, N ns/record, peak RSS M MiB" for one whole-process run.
measure() {
  local label=$1 records=$2
  shift 2
  /usr/bin/time -f "%e %M" -o "$dir/time.txt" "$@" >/dev/null
  read -r secs kib <"$dir/time.txt"
  awk -v l="$label" -v s="$secs" -v k="$kib" -v n="$records" \
    'BEGIN { printf "%-42s %8.2f s  %6.2f ns/record  peak RSS %7.1f MiB\n", l, s, s * 1e9 / n, k / 1024 }'
}

echo "== scaling with trace length (steady: ~50,000 live blocks throughout)"
for n in $sizes; do
  f=$dir/steady-$n.heaplay
  [ -f "$f" ] || "$dir/steady" "$n" | "$heaplay" -q convert - "$f" --to native
  m=$((n / 1000000))M
  measure "stats --threads 1, $m" "$n" "$heaplay" stats "$f" --format json --threads 1
  measure "stats --threads 2, $m" "$n" "$heaplay" stats "$f" --format json --threads 2
  measure "replay --stack raw (sim), $m" "$n" "$heaplay" replay "$f" --stack raw --format json --no-progress
  measure "replay --stack pooled (sim), $m" "$n" "$heaplay" replay "$f" --stack pooled --format json --no-progress
  measure "replay --stack raw --raw glibc, $m" "$n" "$heaplay" replay "$f" --stack raw --raw glibc --format json --no-progress
done

echo "== memory per live block: (peak RSS, N live = 4M) - (N = 1M), over 3M"
# blocks: a 0..N-1 of 48 bytes, then f of each; objects: o of 48-byte dicts
# (gc containers), then - of each.
for n in 1000000 4000000; do
  [ -f "$dir/live-a-$n.heaplay" ] ||
    awk -v n=$n 'BEGIN { for (i = 0; i < n; i++) print "a " i " 48"; for (i = 0; i < n; i++) print "f " i }' |
    "$heaplay" -q convert - "$dir/live-a-$n.heaplay" --to native
  [ -f "$dir/live-o-$n.heaplay" ] ||
    awk -v n=$n 'BEGIN { for (i = 0; i < n; i++) print "o " i " 48 dict"; for (i = 0; i < n; i++) print "- " i }' |
    "$heaplay" -q convert - "$dir/live-o-$n.heaplay" --to native
done
per_block() {
  local label=$1 kind=$2
  shift 2
  local k1 k4
  /usr/bin/time -f "%M" -o "$dir/time.txt" "$@" "$dir/live-$kind-1000000.heaplay" --format json >/dev/null
  k1=$(cat "$dir/time.txt")
  /usr/bin/time -f "%M" -o "$dir/time.txt" "$@" "$dir/live-$kind-4000000.heaplay" --format json >/dev/null
  k4=$(cat "$dir/time.txt")
  awk -v l="$label" -v a="$k1" -v b="$k4" \
    'BEGIN { printf "%-42s 1M live: %6.1f MiB, 4M live: %6.1f MiB: %5.1f bytes per live block\n", l, a / 1024, b / 1024, (b - a) * 1024 / 3e6 }'
}
per_block "stats (blocks)" a "$heaplay" stats --threads 1
per_block "stats (objects)" o "$heaplay" stats --threads 1
per_block "replay --stack raw (sim), blocks" a "$heaplay" replay --stack raw --no-progress
per_block "replay --stack pooled (sim), blocks" a "$heaplay" replay --stack pooled --no-progress
per_block "replay --stack raw --raw glibc, blocks" a "$heaplay" replay --stack raw --raw glibc --no-progress
per_block "replay --stack gc (sim), objects" o "$heaplay" replay --stack gc --no-progress

echo "== compare of 4 stacks, --jobs 1 vs --jobs 2 (alternating rounds, medians, pylike 10M records)"
p10=$dir/p10.heaplay
[ -f "$p10" ] || "$heaplay" -q synth pylike --events 10000000 --seed 1 -o "$p10"
cmp="$heaplay -q compare $p10 --stacks raw,pooled,objspec,gc --format csv --no-progress"
python3 "$(dirname "$0")/interleave.py" 7 "$cmp --jobs 1" "$cmp --jobs 2"
