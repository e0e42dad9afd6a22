# Reference values for full Bayes with covariates (tests/reference/meta_regression_test.cpp,
# BayesRegression*): the BCG log risk ratios (bcg_regression.csv) on absolute latitude,
#   y_j ~ N(theta_j, v_j), theta_j ~ N(b0 + b1 ablat_j, tau^2), flat prior on (b0, b1),
# tau uniform or half-Cauchy(0.5). Brute force, base R only: given tau everything is a closed-form
# normal (b | y, tau ~ N(b_hat(tau), (X'WX)^-1); theta_j | y, tau ~ N(y_j + B_j (x_j' b_hat - y_j),
# v_j (1 - B_j) + B_j^2 x_j' (X'WX)^-1 x_j)); tau is integrated on a dense grid in log tau
# (composite Simpson, 400,000 intervals from tau = e^-30 to e^8), checked against R's integrate()
# on tau itself; quantiles by uniroot on the grid's mixture CDF. Run from the repository root:
#   Rscript tests/data/metafor/bayes_regression.R
# Writes tests/data/metafor/bcg_bayes_reference.csv (prior, name, value; 17 significant digits).
d <- read.csv("tests/data/metafor/bcg_regression.csv")
y <- d$yi; v <- d$vi; X <- cbind(1, d$ablat); k <- length(y)
level <- 0.95; alpha <- 1 - level

# Restricted log-likelihood: 1/2 sum log w - 1/2 log det X'WX - 1/2 (y - X b)' W (y - X b).
fit_at <- function(tau) {
  w <- 1 / (v + tau^2)
  A <- solve(crossprod(X, w * X))
  b <- A %*% crossprod(X, w * y)
  r <- y - X %*% b
  list(w = w, A = A, b = drop(b),
       ll = 0.5 * sum(log(w)) - 0.5 * determinant(crossprod(X, w * X))$modulus[1] - 0.5 * sum(w * r^2))
}
priors <- list(uniform = function(tau) 0, "half-cauchy:0.5" = function(tau) -log1p((tau / 0.5)^2))

n_int <- 400000
s <- seq(-30, 8, length.out = n_int + 1); h <- s[2] - s[1]
simpson <- c(1, rep(c(4, 2), length.out = n_int - 1), 1) * h / 3
tau <- exp(s)
fits <- lapply(tau, fit_at)
ll <- vapply(fits, function(f) f$ll, 0)

rows <- list()
put <- function(prior, name, value) rows[[length(rows) + 1]] <<- data.frame(prior = prior, name = name, value = sprintf("%.17g", value))
# The x where the mixture sum_g p_g N(m_g, s_g^2) has CDF p.
mixture_quantile <- function(p, m, sd, wt) {
  spread <- sqrt(sum(wt * (sd^2 + m^2)) - sum(wt * m)^2)
  centre <- sum(wt * m)
  uniroot(function(x) sum(wt * pnorm((x - m) / sd)) - p, c(centre - 20 * spread, centre + 20 * spread),
          tol = 1e-15 * spread, maxiter = 1000)$root
}

for (pname in names(priors)) {
  lp <- vapply(tau, priors[[pname]], 0) + ll
  dens_s <- exp(lp - max(lp)) * tau            # density in log tau (Jacobian tau)
  wt <- simpson * dens_s; wt <- wt / sum(wt)   # posterior mass of each grid point
  # The same normalising constant and mean of tau by integrate() on tau itself.
  f_tau <- function(t) vapply(t, function(x) exp(priors[[pname]](x) + fit_at(x)$ll - max(lp)), 0)
  Z <- integrate(f_tau, 0, Inf, rel.tol = 1e-13, subdivisions = 1000)$value
  Z_grid <- sum(simpson * dens_s)
  stopifnot(abs(Z / Z_grid - 1) < 1e-10)
  m1 <- integrate(function(t) t * f_tau(t), 0, Inf, rel.tol = 1e-13, subdivisions = 1000)$value / Z
  stopifnot(abs(m1 / sum(wt * tau) - 1) < 1e-10)

  put(pname, "tau_mean", sum(wt * tau))
  put(pname, "tau_sd", sqrt(sum(wt * tau^2) - sum(wt * tau)^2))
  cdf_tau <- function(q) integrate(f_tau, 0, q, rel.tol = 1e-14, subdivisions = 1000)$value / Z
  for (p in c(median = 0.5, lower = alpha / 2, upper = 1 - alpha / 2))
    put(pname, paste0("tau_", names(which(c(median = 0.5, lower = alpha / 2, upper = 1 - alpha / 2) == p))),
        uniroot(function(q) cdf_tau(q) - p, c(1e-6, 50), tol = 1e-15)$root)

  for (c in 1:2) {
    m <- vapply(fits, function(f) f$b[c], 0)
    sd <- vapply(fits, function(f) sqrt(f$A[c, c]), 0)
    mean <- sum(wt * m)
    put(pname, paste0("beta_mean:", c), mean)
    put(pname, paste0("beta_sd:", c), sqrt(sum(wt * (sd^2 + (m - mean)^2))))
    put(pname, paste0("beta_lower:", c), mixture_quantile(alpha / 2, m, sd, wt))
    put(pname, paste0("beta_upper:", c), mixture_quantile(1 - alpha / 2, m, sd, wt))
  }
  for (j in 1:k) {
    B <- vapply(fits, function(f) v[j] * f$w[j], 0)
    xb <- vapply(fits, function(f) sum(X[j, ] * f$b), 0)
    xax <- vapply(fits, function(f) drop(X[j, ] %*% f$A %*% X[j, ]), 0)
    m <- y[j] + B * (xb - y[j])
    sd <- sqrt(v[j] * (1 - B) + B^2 * xax)
    mean <- sum(wt * m)
    put(pname, paste0("fitted:", j), sum(wt * xb))
    put(pname, paste0("shrinkage:", j), sum(wt * B))
    put(pname, paste0("theta_mean:", j), mean)
    put(pname, paste0("theta_sd:", j), sqrt(sum(wt * (sd^2 + (m - mean)^2))))
    put(pname, paste0("theta_lower:", j), mixture_quantile(alpha / 2, m, sd, wt))
    put(pname, paste0("theta_upper:", j), mixture_quantile(1 - alpha / 2, m, sd, wt))
  }
}
write.csv(do.call(rbind, rows), "tests/data/metafor/bcg_bayes_reference.csv", row.names = FALSE, quote = FALSE)
