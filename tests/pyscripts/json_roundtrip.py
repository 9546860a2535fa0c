# json_roundtrip.py: encode and decode nested records (many small str, int,
# float, dict and list objects; a large str), as a web service does.
import json

records = [{"id": i, "name": "user%d" % i, "score": i * 1.25, "tags": ["t%d" % (i % 7), "x"] * (i % 4)}
           for i in range(20000)]
text = json.dumps(records)
back = json.loads(text)
assert back == records
print(len(text), len(back))
