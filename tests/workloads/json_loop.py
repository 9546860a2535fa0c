# json_loop.py: a CPython workload for the `heaplay record` overhead figures in
# docs/performance.md (tests/bench/record_overhead.sh, with PYTHONMALLOC=malloc):
# 20000 small records encoded to JSON and decoded again, five times (about
# 5.3M allocator calls), as a web service does.
import json
data = [{"id": i, "name": "x" * (i % 50), "tags": [str(j) for j in range(i % 7)]} for i in range(20000)]
for _ in range(5):
    data = json.loads(json.dumps(data))
print(len(data))
