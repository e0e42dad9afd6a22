# Reference values for tests/cpu/count_bayes_test.cpp that the brute-force grid of
# count_bayes_reference.R cannot give: under the pumps' default hyperprior (p(m) ~ 1/m,
# p(shape) ~ shape^(-3/2)) the posterior of u = log m has a polynomial tail (where the shape -> 0 the
# likelihood falls only as m^(-J shape); the marginal density of u falls as u^(-(k - 1/2)), k = 10
# groups with a count), so the grid's rectangle (u <= 12) leaves out 1.4e-8 of the mass and 6e-6 of
# the sd of u. Here the moments of u and v = log shape over the whole plane, by nested adaptive
# quadrature (R's integrate: v over the real line for each u, then u over the real line, split at
# fixed points so each piece is smooth), independent of both grids. Run from the repository root:
# Rscript tests/data/count_bayes_tails.R > tests/data/count_bayes_tails.txt (R 4.2, base only; ~1 minute).
options(digits = 15)
pumps <- read.csv("tests/data/pumps.csv", comment.char = "#")
y <- pumps$failures; n <- pumps$thousand_hours
log_post <- function(u, v) {
  out <- -v / 2
  for (j in seq_along(y)) out <- out + dnbinom(y[j], size = exp(v), mu = exp(u) * n[j], log = TRUE)
  out
}
ref <- log_post(-0.4, -0.4)  # near the mode: the integrands stay in double range
tol <- 1e-13
# g(u, v) integrated over v for each u, then over u (split at fixed points).
over_plane <- function(g) {
  inner <- function(u) sapply(u, function(uu) {
    integrate(function(v) g(uu, v) * exp(log_post(uu, v) - ref), -Inf, Inf, rel.tol = tol, subdivisions = 1000)$value
  })
  cuts <- c(-Inf, -3, -1, 0, 1, 3, 6, 12, 30, 100, Inf)
  sum(sapply(seq_len(length(cuts) - 1), function(i)
    integrate(inner, cuts[i], cuts[i + 1], rel.tol = tol, subdivisions = 1000)$value))
}
report <- function(name, x) cat(sprintf("%s %.15g\n", name, x))
Z <- over_plane(function(u, v) 1)
mean_u <- over_plane(function(u, v) u) / Z
report("pumps_default link_mean mean", mean_u)
report("pumps_default link_mean sd", sqrt(over_plane(function(u, v) (u - mean_u)^2) / Z))
mean_v <- over_plane(function(u, v) v) / Z
report("pumps_default log_concentration mean", mean_v)
report("pumps_default log_concentration sd", sqrt(over_plane(function(u, v) (v - mean_v)^2) / Z))
