# Reference values for tests/cpu/count_bayes_test.cpp: full Bayes over the count families'
# hyperparameters by brute force, independent of shrink's adaptive quadrature. Run from the
# repository root: Rscript tests/data/count_bayes_reference.R > tests/data/count_bayes_reference.txt
# (R 4.2, base only; about fifteen minutes on two cores).
#
# The posterior density of (u, v) = (log(alpha/beta), log(alpha+beta)) (binomial; poisson:
# (log mean, log shape)) on a fixed fine rectangular grid, as BDA3 section 5.3 computes it (its
# "log(alpha/beta), log(alpha+beta)" contour grid, much finer): means and sds by the midpoint rule
# (geometrically accurate: the density vanishes well inside the rectangle); each marginal density
# by summing across the grid, on a grid whose axis is that quantity (v = w - log m for log alpha,
# v = w - log(1 - m) for log beta, v = w + u for the Poisson's log rate: shifts, Jacobian 1), its
# CDF to O(spacing^4) (see quantiles() below) and its quantiles by uniroot. A group's theta: the
# mixture over the (u, v) grid of its conjugate posteriors, quantiles by uniroot on the mixture CDF
# (pbeta / pgamma).
options(digits = 15)
rats <- read.csv("tests/data/rat_tumors.csv", comment.char = "#")
pumps <- read.csv("tests/data/pumps.csv", comment.char = "#")

# Identical groups once, with their multiplicity.
gather <- function(y, n) { d <- aggregate(list(w = rep(1, length(y))), list(y = y, n = n), sum); d }

log_lik_binomial <- function(u, v, d) {
  m <- plogis(u); nu <- exp(v); a <- nu * m; b <- nu * (1 - m)
  out <- 0
  for (j in seq_len(nrow(d))) out <- out + d$w[j] * (lbeta(a + d$y[j], b + d$n[j] - d$y[j]) - lbeta(a, b) + lchoose(d$n[j], d$y[j]))
  out
}
log_lik_poisson <- function(u, v, d) {
  m <- exp(u); shape <- exp(v)
  out <- 0
  for (j in seq_len(nrow(d))) out <- out + d$w[j] * dnbinom(d$y[j], size = shape, mu = m * d$n[j], log = TRUE)
  out
}

report <- function(name, x) cat(sprintf("%s %.15g\n", name, x))

# w's marginal density on w_seq: the density summed over u_seq at v = v_of(u, w).
marginal <- function(lp_fun, u_seq, w_seq, v_of, ref) {
  g <- expand.grid(u = u_seq, w = w_seq)
  lp <- lp_fun(g$u, v_of(g$u, g$w))
  dens <- exp(lp - ref)
  dens[!is.finite(dens)] <- 0
  colSums(matrix(dens, nrow = length(u_seq))) * (u_seq[2] - u_seq[1])
}
# The CDF at the nodes by the cumulative trapezoidal rule with its Euler-Maclaurin end correction
# (-h^2/12 times the density's slope, by central differences), between them the cubic Hermite
# interpolant with the density as its slope: O(h^4) throughout.
quantiles <- function(w_seq, dens, p) {
  h <- w_seq[2] - w_seq[1]; n <- length(w_seq)
  slope <- c(0, (dens[3:n] - dens[1:(n - 2)]) / (2 * h), 0)
  cdf <- c(0, cumsum((head(dens, -1) + tail(dens, -1)) / 2 * h)) - h^2 / 12 * (slope - slope[1])
  total <- cdf[n]
  cdf <- cdf / total
  F <- splinefunH(w_seq, cdf, dens / total)
  sapply(p, function(q) {
    i <- max(which(cdf <= q))
    uniroot(function(x) F(x) - q, w_seq[c(i, i + 1)], tol = 1e-15)$root
  })
}

summaries <- function(label, lp_fun, u_range, v_range, h, w_axes, groups, family, proper) {
  u_seq <- seq(u_range[1], u_range[2], by = h); v_seq <- seq(v_range[1], v_range[2], by = h)
  g <- expand.grid(u = u_seq, v = v_seq)
  lp <- lp_fun(g$u, g$v)
  ref <- max(lp)
  mass <- exp(lp - ref); mass[!is.finite(mass)] <- 0
  total <- sum(mass)
  wt <- mass / total
  # Edges: the mass on the rectangle's border lines, to show that it holds the posterior.
  edge <- sum(mass[g$u == u_seq[1] | g$u == u_seq[length(u_seq)] | g$v == v_seq[1] | g$v == v_seq[length(v_seq)]]) / total
  report(paste(label, "edge_mass"), edge)
  if (proper) report(paste(label, "log_marginal_likelihood"), ref + log(total * h * h))
  if (family == "binomial") {
    m <- plogis(g$u); a <- exp(g$v) * m; b <- exp(g$v) * (1 - m)
  } else {
    m <- exp(g$u); a <- exp(g$v); b <- exp(g$v) / m
  }
  moments <- function(name, x) {
    mu <- sum(wt * x)
    report(paste(label, name, "mean"), mu)
    report(paste(label, name, "sd"), sqrt(sum(wt * (x - mu)^2)))
  }
  moments("a", a); moments("b", b); moments("mean", m); moments("concentration", exp(g$v))
  moments("link_mean", g$u); moments("log_concentration", g$v)
  probs <- c(0.5, 0.025, 0.975)
  qs <- function(name, w_seq, v_of, transform) {
    dens <- marginal(lp_fun, u_seq, w_seq, v_of, ref)
    q <- transform(quantiles(w_seq, dens, probs))
    report(paste(label, name, "median"), q[1]); report(paste(label, name, "lower"), q[2]); report(paste(label, name, "upper"), q[3])
  }
  # u's marginal: the grid's row sums (along v).
  dens_u <- rowSums(matrix(mass, nrow = length(u_seq))) * h
  qu <- quantiles(u_seq, dens_u, probs)
  for (k in 1:3) report(paste(label, "link_mean", c("median", "lower", "upper")[k]), qu[k])
  mean_of <- if (family == "binomial") plogis else exp
  for (k in 1:3) report(paste(label, "mean", c("median", "lower", "upper")[k]), mean_of(qu[k]))
  dens_v <- colSums(matrix(mass, nrow = length(u_seq))) * h
  qv <- quantiles(v_seq, dens_v, probs)
  for (k in 1:3) report(paste(label, "log_concentration", c("median", "lower", "upper")[k]), qv[k])
  for (k in 1:3) report(paste(label, "concentration", c("median", "lower", "upper")[k]), exp(qv[k]))
  w_seq <- seq(v_range[1] - 4, v_range[2] + 4, by = h / 2)
  if (family == "binomial") {
    qs("a", w_seq, function(u, w) w - log(plogis(u)), exp)
    qs("b", w_seq, function(u, w) w - log(1 - plogis(u)), exp)
  } else {
    for (k in 1:3) report(paste(label, "a", c("median", "lower", "upper")[k]), exp(qv[k]))
    qs("b", seq(v_range[1] - u_range[2], v_range[2] - u_range[1], by = h / 2), function(u, w) w + u, exp)
  }
  # Groups' theta: mixtures over the grid's points of visible weight.
  keep <- wt > 1e-15 * max(wt)
  for (k in seq_len(nrow(groups))) {
    y <- groups$y[k]; n <- groups$n[k]; w <- wt[keep] / sum(wt[keep]); ak <- a[keep]; bk <- b[keep]
    if (family == "binomial") {
      A <- ak + y; B <- bk + n - y; mu <- sum(w * A / (A + B)); second <- sum(w * (A * (A + 1)) / ((A + B) * (A + B + 1)))
      cdf <- function(x) sum(w * pbeta(x, A, B)); upper_cdf <- function(x) sum(w * pbeta(x, A, B, lower.tail = FALSE))
      range <- c(1e-12, 1 - 1e-12)
    } else {
      A <- ak + y; B <- bk + n; mu <- sum(w * A / B); second <- sum(w * A * (A + 1) / B^2)
      cdf <- function(x) sum(w * pgamma(x, A, B)); upper_cdf <- function(x) sum(w * pgamma(x, A, B, lower.tail = FALSE))
      range <- c(1e-12, 100)
    }
    name <- paste(label, "group", groups$label[k])
    report(paste(name, "mean"), mu)
    report(paste(name, "sd"), sqrt(second - mu^2))
    report(paste(name, "lower"), uniroot(function(x) cdf(x) - 0.025, range, tol = 1e-15)$root)
    report(paste(name, "upper"), uniroot(function(x) upper_cdf(x) - 0.025, range, tol = 1e-15)$root)
  }
}

rat_groups <- gather(rats$y, rats$K)
rat71 <- data.frame(label = "71", y = 4, n = 14)
log_prior_bda3 <- function(u, v) log(plogis(u)) + log(1 - plogis(u)) - v / 2
summaries("rats_bda3", function(u, v) log_lik_binomial(u, v, rat_groups) + log_prior_bda3(u, v),
          c(-3.2, -0.6), c(-0.5, 16), 0.005, NULL, rat71, "binomial", FALSE)
# --hyperprior "mean=beta:1.5,8.5;concentration=exp:10"
log_prior_user <- function(u, v) {
  m <- plogis(u); nu <- exp(v)
  dbeta(m, 1.5, 8.5, log = TRUE) + log(m) + log(1 - m) + dexp(nu, 1 / 10, log = TRUE) + v
}
summaries("rats_user", function(u, v) log_lik_binomial(u, v, rat_groups) + log_prior_user(u, v),
          c(-3.2, -0.6), c(-0.5, 8), 0.005, NULL, rat71, "binomial", TRUE)

pump_groups <- gather(pumps$failures, pumps$thousand_hours)
pump10 <- data.frame(label = "10", y = 22, n = 10.48)
# (p(m) ~ 1/m: where the shape is small the posterior reaches far into large m: u up to 12.)
summaries("pumps_default", function(u, v) log_lik_poisson(u, v, pump_groups) - v / 2,
          c(-4.5, 12), c(-7, 9), 0.01, NULL, pump10, "poisson", FALSE)
# --hyperprior "mean=gamma:2,2;concentration=exp:2"
summaries("pumps_user", function(u, v) log_lik_poisson(u, v, pump_groups) + dgamma(exp(u), 2, 2, log = TRUE) + u +
            dexp(exp(v), 1 / 2, log = TRUE) + v, c(-4.5, 3), c(-5, 5), 0.005, NULL, pump10, "poisson", TRUE)

# One group, one trial, one success, --hyperprior "mean=beta:2,3;concentration=exp:4": the closed
# form's one integral, E[1 / (nu + 1)] for nu ~ exponential(mean 4).
report("one_group c", integrate(function(nu) dexp(nu, 1 / 4) / (nu + 1), 0, Inf, rel.tol = 1e-14)$value)

# A hand-made mixture's quantiles (tests the mixture quantile alone): weights 0.5, 0.3, 0.2 on
# Beta(2, 5), (3, 4), (10, 30) priors, group 3 of 10; Gamma(2, 1), (5, 3), (0.5, 0.2), group 4 over 2.5.
w <- c(0.5, 0.3, 0.2)
a <- c(2, 3, 10); b <- c(5, 4, 30)
for (p in c(0.025, 1e-6)) {
  report(sprintf("mixture beta lower %g", p), uniroot(function(x) sum(w * pbeta(x, a + 3, b + 7)) - p, c(1e-9, 1 - 1e-9), tol = 1e-16)$root)
  report(sprintf("mixture beta upper %g", p), uniroot(function(x) sum(w * pbeta(x, a + 3, b + 7, lower.tail = FALSE)) - p, c(1e-9, 1 - 1e-9), tol = 1e-16)$root)
}
a <- c(2, 5, 0.5); b <- c(1, 3, 0.2)
for (p in c(0.025, 1e-6)) {
  report(sprintf("mixture gamma lower %g", p), uniroot(function(x) sum(w * pgamma(x, a + 4, b + 2.5)) - p, c(1e-9, 100), tol = 1e-16)$root)
  report(sprintf("mixture gamma upper %g", p), uniroot(function(x) sum(w * pgamma(x, a + 4, b + 2.5, lower.tail = FALSE)) - p, c(1e-9, 100), tol = 1e-16)$root)
}
