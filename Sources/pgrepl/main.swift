print("pgrepl")
