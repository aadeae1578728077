print("bindbench")
