print("never printed")
rows = [1, 2,
