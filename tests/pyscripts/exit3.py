# exit3.py: sys.exit(3) after some work; prints its arguments and __name__.
import sys

rows = [list(range(i)) for i in range(300)]
print(sys.argv, __name__, len(rows))
sys.exit(3)
