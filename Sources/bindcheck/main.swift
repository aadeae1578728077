print("bindcheck")
