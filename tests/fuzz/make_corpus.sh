#!/usr/bin/env bash
# make_corpus.sh HEAPLAY: (re)writes the committed seed corpora in tests/fuzz/corpus/.
#
# Seeds are small (a few KB a directory): libFuzzer mutates small inputs
# fastest, and they are committed. Sources: samples/, the golden tests'
# inputs, `heaplay synth` output of a few hundred records, and hand-written
# records of every kind. Run it with any build's heaplay binary after a
# format change; the script is the record of where each seed came from.
set -euo pipefail
HEAPLAY=$(realpath "$1")
cd "$(dirname "$0")"
root=../..
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Keep what fuzzing found (found-*: minimized inputs of fixed bugs, each also
# a test in tests/); rewrite everything else.
mkdir -p corpus/{text,native,heaptrack,mtrace,native_frames,replay}
find corpus -type f ! -name 'found-*' -delete

# Every text record, both number forms, metadata, comments, CR LF, no final newline.
cat >corpus/text/every_record.trace <<'EOF'
# every record kind
#@ python.version 3.11.2
#@ note a\tb\\c
t 1000
o 0x1000 64 dict
o 0x2000 56 list
l 0x1000 0x2000
l 0x1000 0x2000
u 0x1000 0x2000
+ 0x2000
- 0x2000
a 7 24 float obj
a 8 100 - raw
a 9 4096 bytes mem
r 9 8192
f 7
f 8 gc
g 0
g
t 2000
m request done
- 0x1000
EOF
printf 'a 1 16\r\nf 1\r\no 2 32 tuple\r\n- 2' >corpus/text/crlf_no_newline.trace
cp "$root/samples/request.trace" corpus/text/request.trace
for c in convert_roundtrip lenient err_double_free err_size_overflow; do
  cp "$root/tests/golden/$c/input.trace" "corpus/text/golden_$c.trace"
done
"$HEAPLAY" -q synth service --events 300 -o "$tmp/service.trace"
cp "$tmp/service.trace" corpus/text/synth_service.trace
head -c 1500 "$tmp/service.trace" | zstd -q -c >corpus/text/service_head.trace.zst
head -c 1500 "$tmp/service.trace" | gzip -n -c >corpus/text/service_head.trace.gz

# Native: small synth files in both versions, frames of a few dozen records,
# one cut short, one with objects and one without.
"$HEAPLAY" -q synth pylike --events 200 --frame-events 64 -o corpus/native/pylike.heaplay
"$HEAPLAY" -q synth pylike --events 120 --no-objects --frame-events 50 -o corpus/native/blocks.heaplay
"$HEAPLAY" -q synth graph --events 150 --frame-events 40 -o corpus/native/graph.heaplay
"$HEAPLAY" -q convert corpus/text/every_record.trace corpus/native/every_record.heaplay
head -c 300 corpus/native/pylike.heaplay >corpus/native/pylike_cut.heaplay

# heaptrack: the golden inputs (interpreted), one compressed, and a raw one.
for c in heaptrack_lenient err_heaptrack_bad_index err_heaptrack_no_live_block; do
  cp "$root/tests/golden/$c/input.heaptrack" "corpus/heaptrack/golden_$c.heaptrack"
done
cp "$root/tests/golden/heaptrack_stats/input.zst" corpus/heaptrack/golden_stats.zst
zstd -q -d -c "$root/tests/golden/heaptrack_stats/input.zst" | head -c 3000 >corpus/heaptrack/stats_head.heaptrack
printf 'v 10400 3\nx 5 ./a b\nm 1 -\nt 5 0\n+ 40 1 1000\n+ 8 1 2000\n- 1000\n- 3000\n+ 40 1 3000\nc 2a\nR 30\n' \
  >corpus/heaptrack/raw.heaptrack

# mtrace: the golden logs and every line form.
cp "$root/tests/golden/mtrace_stats/input.log" corpus/mtrace/golden_stats.log
cp "$root/tests/golden/err_mtrace_unpaired/input.log" corpus/mtrace/golden_unpaired.log
cat >corpus/mtrace/every_line.log <<'EOF'
= Start
@ ./prog:[0x11a0] + 0x55d0 0x64
@ /lib/libc.so.6:(fn+0x1a)[0x7f00] + 0x5640 0x10
@ [0x1234] < 0x55d0
@ [0x1234] > 0x5700 0x200
+ (nil) 0xffffffffffffffff
@ ./prog:[0x11b0] ! 0x5640 0x1000
- 0x5640
- 0x9999
+ 0x5800 0
= End
EOF

# native_frames: the decompressed content of the native seeds' frames, laid
# out as native_frames_fuzz.cpp reads them (flags byte; per frame: count
# adjustment 0, u16 length, content).
for f in corpus/native/pylike.heaplay corpus/native/graph.heaplay corpus/native/every_record.heaplay; do
  python3 - "$f" "corpus/native_frames/$(basename "$f" .heaplay).frames" <<'EOF'
import struct, subprocess, sys
data = open(sys.argv[1], 'rb').read()
version = struct.unpack_from('<I', data, 12)[0]
out = bytearray([1 if version == 1 else 0])
pos = 16
while pos + 20 <= len(data):
    kind, length = data[pos], struct.unpack_from('<I', data, pos + 4)[0]
    payload = data[pos + 20:pos + 20 + length]
    pos += 20 + length
    if kind == ord('E'):
        content = subprocess.run(['zstd', '-q', '-d', '-c'], input=payload, check=True, capture_output=True).stdout
        out += bytes([0]) + struct.pack('<H', len(content)) + content
open(sys.argv[2], 'wb').write(out)
EOF
done

# replay: text traces (they mutate best), hostile sizes, a native and a heaptrack one.
cp corpus/text/every_record.trace corpus/text/synth_service.trace corpus/replay/
"$HEAPLAY" -q synth numeric --events 200 -o corpus/replay/synth_numeric.trace
"$HEAPLAY" -q synth graph --events 200 -o corpus/replay/synth_graph.trace
cp "$root/tests/golden/replay_gc/small.trace" corpus/replay/golden_gc.trace
cp "$root/tests/golden/replay_objspec_sites/sites.trace" corpus/replay/golden_sites.trace
printf 'a 1 1152921504606846976\na 2 140737488355328\nr 2 18446744073709551615\no 3 4611686018427387904 big\na 4 0\nf 4\n' \
  >corpus/replay/huge_sizes.trace
printf 'o 1 16 a\no 2 16 b\nl 1 2\nl 2 1\n- 1\n- 2\ng 0\ng 1\ng 2\no 3 16 c\nl 3 3\n- 3\ng\n' >corpus/replay/cycles.trace
cp corpus/native/every_record.heaplay corpus/replay/
cp corpus/heaptrack/raw.heaptrack corpus/replay/
du -sh corpus/*
