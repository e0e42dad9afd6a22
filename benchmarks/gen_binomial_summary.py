"""Summary CSV (y,n) of J binomial groups for the --method bayes benchmark (benchmarks/RESULTS.md):
trials uniform on 1..MAXN, theta ~ Beta(2, 12), seed 11. Usage: gen_binomial_summary.py J MAXN OUT.csv"""
import numpy as np, sys
J = int(float(sys.argv[1])); maxn = int(sys.argv[2]); out = sys.argv[3]
rng = np.random.default_rng(11)
n = rng.integers(1, maxn + 1, J)
theta = rng.beta(2.0, 12.0, J)
y = rng.binomial(n, theta)
with open(out, "w") as f:
    f.write("y,n\n")
    np.savetxt(f, np.column_stack([y, n]), fmt="%d", delimiter=",")
print(len(set(zip(y.tolist(), n.tolist()))), "distinct pairs")
