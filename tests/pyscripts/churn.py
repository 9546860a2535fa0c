# churn.py: dict and list churn. Values are lists of 0 to 79 items, so their
# item arrays span pymalloc sizes and raw ones (over 512 bytes); stacks of 0
# to 100 items grow by appends and are cut to 30 (list_resize reallocs up
# and down across 512 bytes, 64 items); a bytearray and a str grow by small
# steps (reallocs in place and moving).
import random

random.seed(5)
table = {}
queue = []
for i in range(150000):
    k = random.randrange(5000)
    if random.random() < 0.6:
        table[k] = [k] * random.randrange(0, 80)
    else:
        table.pop(k, None)
    if i % 3 == 0:
        queue.append(str(i) * random.randrange(1, 40))
    if len(queue) > 3000:
        del queue[: random.randrange(100, 2000)]
stacks = [[] for _ in range(50)]
for i in range(100000):
    st = stacks[random.randrange(50)]
    if len(st) < 100:
        st.append(i)
    else:
        del st[30:]
b = bytearray()
for i in range(2000):
    b += b"x" * 7
s = ""
for i in range(3000):
    s += chr(65 + i % 26)
print(len(table), len(queue), sum(map(len, stacks)), len(b), len(s))
