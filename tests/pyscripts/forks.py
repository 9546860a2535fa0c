# forks.py: forked children that end through sys.exit (which runs atexit
# functions) and os._exit. They inherit the recorder; only the parent may end
# the recording and write the trace.
import os
import sys

keep = [str(i) for i in range(20000)]
codes = []
for how in ("exit", "_exit"):
    pid = os.fork()
    if pid == 0:
        junk = [bytes(100) for _ in range(1000)]
        if how == "exit":
            sys.exit(0)
        os._exit(4)
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print("children", *codes)
