# raises.py: an uncaught exception: python3 prints the traceback, exits 1.
table = {i: str(i) for i in range(1000)}


def divide(x):
    return 1 / x


divide(0)
