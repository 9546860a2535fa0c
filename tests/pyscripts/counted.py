# counted.py: a known number of objects of a size nothing else requests:
# 1000 bytes objects of 4000 bytes (PyBytesObject header 33 + 4000 = 4033
# bytes, an OBJ request over 512: pymalloc passes it to malloc), all freed.
keep = [bytes(4000) for _ in range(1000)]
del keep
print("done")
