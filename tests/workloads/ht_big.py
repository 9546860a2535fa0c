# ht_big.py: a CPython workload for the heaptrack speed comparison in
# docs/performance.md (tests/bench/perf.sh records it with
# PYTHONMALLOC=malloc heaptrack): about 5.4M allocations of small dicts,
# lists, strings and tuples, a few thousand of them kept at a time.
import random

random.seed(1)
keep = []
for i in range(560000):
    d = {"k": str(i) * (i % 5), "v": [i] * (i % 9), "t": (i, str(i))}
    if i % 3 == 0:
        keep.append(d)
    if len(keep) > 5000:
        del keep[random.randrange(len(keep))]
