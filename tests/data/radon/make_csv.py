"""Writes tests/data/radon/radon.csv (county,floor,log_uranium,log_radon) from radon.data.json,
the prepared Minnesota radon variables of Gelman and Hill (2007), chapter 12, copied verbatim from
../shared/validation/data/radon_arm. Run from the repository root: python3 tests/data/radon/make_csv.py"""
import json

d = json.load(open("tests/data/radon/radon.data.json"))
with open("tests/data/radon/radon.csv", "w") as f:
    f.write("county,floor,log_uranium,log_radon\n")
    for c, x, u, y in zip(d["county"], d["x"], d["u"], d["y"]):
        f.write(f"{c},{x},{u!r},{y!r}\n")
