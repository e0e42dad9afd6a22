# Deciles of the gamma and beta distributions the count samplers are tested against
# (tests/cpu/count_samplers_test.cpp): R's qgamma / qbeta, 17 significant digits.
# Run: Rscript tests/data/count_samplers_quantiles.R > tests/data/count_samplers_quantiles.csv
cases <- list(
  list("gamma", 0.05, 1), list("gamma", 0.3, 1), list("gamma", 1, 1), list("gamma", 2.5, 1), list("gamma", 50, 1),
  list("beta", 0.2, 0.7), list("beta", 2, 1), list("beta", 5, 45), list("beta", 300, 700))
cat("distribution,a,b,p,quantile\n")
for (c in cases) {
  for (p in seq(0.1, 0.9, by = 0.1)) {
    q <- if (c[[1]] == "gamma") qgamma(p, shape = c[[2]]) else qbeta(p, c[[2]], c[[3]])
    cat(sprintf("%s,%.17g,%.17g,%.1f,%.17g\n", c[[1]], c[[2]], c[[3]], p, q))
  }
}
