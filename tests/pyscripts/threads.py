# threads.py: four threads allocating at once (RAW requests come from any
# thread, without the GIL: the recorder's hooks must serialize them).
import io
import json
import threading
import zlib


def work(n):
    out = []
    for i in range(1500):
        buf = io.BytesIO()
        buf.write(zlib.compress(json.dumps({"i": i, "n": n, "l": list(range(i % 100))}).encode()))
        out.append(buf.getvalue())
    return len(out)


threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done")
