# cycles.py: objects in reference cycles, freed only by the cyclic collector.
# Automatic collections are off, so exactly the explicit gc.collect() calls
# free them; each pair holds a payload of bytes(3000) (a 3033-byte OBJ
# request), so the test can count the payloads the collector freed.
import gc

gc.disable()


class Node:
    def __init__(self):
        self.peer = None
        self.payload = bytes(3000)


def pairs(n):
    for _ in range(n):
        a, b = Node(), Node()
        a.peer, b.peer = b, a


total = 0
for _ in range(5):
    pairs(100)            # 200 nodes, 200 payloads, all garbage once pairs() returns
    total += gc.collect()
print("collected", total)
