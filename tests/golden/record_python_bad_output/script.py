print("never printed: the trace cannot be written, so the script does not run")
