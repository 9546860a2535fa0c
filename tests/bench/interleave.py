#!/usr/bin/env python3
"""interleave.py ROUNDS CMD...: wall times of commands run in alternation.

Each round runs every command once, in a shuffled order, so that the load of
a shared machine drifting over a run falls on all of them alike (hyperfine
runs one command's repetitions back to back). Prints each command's median
and, against the first command, the median of the per-round ratios."""
import random
import statistics
import subprocess
import sys
import time

rounds, cmds = int(sys.argv[1]), sys.argv[2:]
times = {c: [] for c in cmds}
for c in cmds:  # warm-up: page cache, lazy binding
    subprocess.run(c, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
for _ in range(rounds):
    order = cmds[:]
    random.shuffle(order)
    for c in order:
        t0 = time.perf_counter()
        subprocess.run(c, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times[c].append(time.perf_counter() - t0)
base = times[cmds[0]]
for c in cmds:
    ratio = statistics.median(t / b for t, b in zip(times[c], base))
    print(f"{statistics.median(times[c]) * 1e3:8.1f} ms  x{ratio:.2f} (median of per-round ratios)  {c}")
