# Reference values for the logit-normal / log-normal priors (tests/cpu/glmm_fit_test.cpp and
# tests/cli/glmm_cli_test.cpp). Run from the repository root: Rscript tests/data/glmm_reference.R
# (R 4.2, lme4 1.1-31). Writes tests/data/cbpp.csv (lme4's cbpp data) and prints the references.
#
# Model: y_j ~ Binomial(n_j, expit(mu + b_j)) or Poisson(E_j exp(mu + b_j)), b_j = tau u_j, u_j ~ N(0, 1).
# Per group, h(u) = log p(y_j | mu + tau u) - u^2/2; the adaptive Gauss-Hermite approximation with K
# nodes at the mode u^ (curvature c = -h''(u^)) is
#   l_j = h(u^) - log(c)/2 + log sum_k w_k exp(h(u^ + z_k / sqrt(c)) - h(u^) + z_k^2/2),
# (z_k, w_k) the K-point rule for N(0, 1) (K = 1: Laplace). `aghq` below is written from that formula
# alone (no lme4 code), maximised at tight tolerance and polished by Newton on Richardson-extrapolated
# finite differences; glmer's fits are printed beside it.
suppressPackageStartupMessages(library(lme4))
options(digits = 17)
data(cbpp, package = "lme4")
write.csv(data.frame(herd = as.integer(as.character(cbpp$herd)), incidence = cbpp$incidence, size = cbpp$size,
                     period = as.integer(as.character(cbpp$period))), "tests/data/cbpp.csv", row.names = FALSE, quote = FALSE)

# Gauss-Hermite nodes and weights for N(0, 1) by Golub-Welsch (probabilists' Hermite recurrence).
gh <- function(K) {
  if (K == 1) return(list(z = 0, w = 1))
  e <- eigen(diag(0, K) + { m <- matrix(0, K, K); for (i in 1:(K - 1)) m[i, i + 1] <- m[i + 1, i] <- sqrt(i); m }, symmetric = TRUE)
  list(z = e$values, w = e$vectors[1, ]^2)
}

binomial_f <- function(y, n) list(
  f = function(eta) y * eta - n * ifelse(eta > 0, eta + log1p(exp(-eta)), log1p(exp(eta))),
  f1 = function(eta) y - n * plogis(eta), f2 = function(eta) -n * plogis(eta) * plogis(-eta),
  const = lchoose(n, y))
poisson_f <- function(y, E) list(
  f = function(eta) y * eta - E * exp(eta), f1 = function(eta) y - E * exp(eta), f2 = function(eta) -E * exp(eta),
  const = y * log(E) - lgamma(y + 1))

# Conditional modes of u by Newton (h is strictly concave), to the last bit.
modes <- function(L, mu, tau) {
  u <- rep(0, length(L$const))
  for (i in 1:200) {
    eta <- mu + tau * u
    step <- (tau * L$f1(eta) - u) / (tau^2 * L$f2(eta) - 1)
    u <- u - step
    if (max(abs(step)) < 1e-15 * (1 + max(abs(u)))) break
  }
  u
}
aghq <- function(L, mu, tau, K, per_group = FALSE) {
  r <- gh(K); u <- modes(L, mu, tau)
  h <- function(v) L$f(mu + tau * v) - v^2 / 2
  c <- 1 - tau^2 * L$f2(mu + tau * u)
  s <- 0
  for (k in seq_along(r$z)) s <- s + r$w[k] * exp(h(u + r$z[k] / sqrt(c)) - h(u) + r$z[k]^2 / 2)
  l <- h(u) - log(c) / 2 + log(s) + L$const
  if (per_group) l else sum(l)
}
# The maximum of the AGHQ objective in (mu, tau): nlminb, then Newton with derivatives by Richardson
# extrapolation of central differences (errors ~1e-11, far below the 1e-9 the tests ask).
fit_aghq <- function(L, K, start) {
  obj <- function(p) -aghq(L, p[1], p[2], K)
  o <- nlminb(start, obj, control = list(rel.tol = 1e-15, x.tol = 1e-15, eval.max = 5000, iter.max = 5000))
  p <- o$par
  d1 <- function(p, i, h) { e <- replace(numeric(2), i, h); (obj(p + e) - obj(p - e)) / (2 * h) }
  grad <- function(p) sapply(1:2, function(i) (4 * d1(p, i, 5e-4) - d1(p, i, 1e-3)) / 3)
  for (it in 1:4) {
    H <- matrix(0, 2, 2)
    for (i in 1:2) H[, i] <- (grad(p + replace(numeric(2), i, 1e-4)) - grad(p - replace(numeric(2), i, 1e-4))) / 2e-4
    p <- p - solve(H, grad(p))
  }
  list(mu = p[1], tau = abs(p[2]), loglik = aghq(L, p[1], p[2], K), grad = grad(p), H = H)
}
say <- function(...) cat(sprintf(...), "\n", sep = "")
# Composite Simpson's rule with 2 m intervals (integrate() misses part of the narrow peaks here,
# by up to 3e-4): errors O(h^4), below 1e-11 for these smooth integrands with h <= 1.5e-3.
simpson <- function(f, a, b, m = 10000) {
  x <- seq(a, b, length.out = 2 * m + 1); y <- f(x)
  (b - a) / (6 * m) * (y[1] + y[2 * m + 1] + 4 * sum(y[seq(2, 2 * m, 2)]) + 2 * sum(y[seq(3, 2 * m - 1, 2)]))
}

run <- function(label, L, formula, data, family, Ks) {
  for (K in Ks) {
    # tolPwrss = 1e-10: with glmer's default (1e-7) its nAGQ = 1 deviance takes the log-determinant
    # from a Cholesky factor one PIRLS step behind the conditional modes (cbpp: ldL2 off by 4e-4 at
    # its estimate, which then stops at mu = -2.045667, 5e-4 from the Laplace maximum -2.046162);
    # at 1e-10 and 1e-13 it agrees with the formula here to 1e-8.
    g <- glmer(formula, data = data, family = family, nAGQ = K,
               control = glmerControl(optimizer = "bobyqa", tolPwrss = 1e-10, optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))
    f <- fit_aghq(L, K, c(fixef(g)[[1]], getME(g, "theta")[[1]]))
    say("%s K=%d glmer: mu %.15g tau2 %.15g loglik %.15g", label, K, fixef(g)[[1]], getME(g, "theta")[[1]]^2, logLik(g)[[1]])
    say("%s K=%d aghq:  mu %.17g tau2 %.17g loglik %.17g (gradient %.2g %.2g)", label, K, f$mu, f$tau^2, f$loglik, f$grad[1], f$grad[2])
    say("%s K=%d se: mu %.12g tau %.12g", label, K, sqrt(diag(solve(f$H)))[1], sqrt(diag(solve(f$H)))[2])
    re <- ranef(g, condVar = TRUE)[[1]]
    say("%s K=%d glmer modes: %s", label, K, paste(sprintf("%.15g", re[[1]]), collapse = ", "))
    say("%s K=%d glmer condsd: %s", label, K, paste(sprintf("%.15g", sqrt(attr(re, "postVar")[1, 1, ])), collapse = ", "))
    u <- modes(L, f$mu, f$tau)
    c <- 1 - f$tau^2 * L$f2(f$mu + f$tau * u)
    say("%s K=%d aghq modes b: %s", label, K, paste(sprintf("%.17g", f$tau * u), collapse = ", "))
    say("%s K=%d aghq condsd b: %s", label, K, paste(sprintf("%.17g", f$tau / sqrt(c)), collapse = ", "))
    # The GLM without random effects (tau = 0) for the likelihood-ratio test.
    assign(paste0("fit_", label, "_", K), f, envir = globalenv())
  }
}

# cbpp: shrink reads one row per herd (its rows summed). The herd's binomial likelihood is its rows'
# product times prod_i C(n_i, y_i) / C(N, Y), constant in the parameters: the estimates and modes are
# glmer's, and glmer's log-likelihood is shrink's + sum_i lchoose(n_i, y_i) - sum_herd lchoose(N, Y).
herds <- aggregate(cbind(incidence, size) ~ herd, data = cbpp, FUN = sum)
Lb <- binomial_f(herds$incidence, herds$size); Lb$y <- herds$incidence; Lb$size <- herds$size
say("cbpp herds Y: %s", paste(herds$incidence, collapse = ","))
say("cbpp herds N: %s", paste(herds$size, collapse = ","))
# With nAGQ > 1 glmer reports the log-likelihood less the rows' saturated one (its deviance residuals).
say("cbpp saturated rows loglik: %.17g", sum(dbinom(cbpp$incidence, cbpp$size, cbpp$incidence / cbpp$size, log = TRUE)))
say("cbpp lchoose rows - herds: %.17g", sum(lchoose(cbpp$size, cbpp$incidence)) - sum(lchoose(herds$size, herds$incidence)))
run("cbpp", Lb, cbind(incidence, size - incidence) ~ 1 + (1 | herd), cbpp, binomial, c(1, 25))
f <- fit_aghq(Lb, 10, c(-2, 0.6)); say("cbpp K=10 aghq: mu %.17g tau2 %.17g loglik %.17g", f$mu, f$tau^2, f$loglik)
fit_cbpp_10 <- f
p0 <- sum(herds$incidence) / sum(herds$size)
l0 <- sum(dbinom(herds$incidence, herds$size, p0, log = TRUE))
say("cbpp tau=0 loglik %.17g; LRT K=10 %.17g", l0, 2 * (f$loglik - l0))

# The AGHQ integral against Simpson's rule per herd, at (mu, tau) = (-2, 0.8): the exact log marginal.
exact <- sapply(seq_along(herds$herd), function(j) {
  Lj <- binomial_f(herds$incidence[j], herds$size[j])
  u0 <- modes(Lj, -2, 0.8)  # over the mode +-15 (h'' <= -1: the rest is below 1e-49 of the mass)
  log(simpson(function(u) exp(Lj$f(-2 + 0.8 * u)) * dnorm(u), u0 - 15, u0 + 15)) + Lj$const
})
say("cbpp exact (Simpson) log marginal at (-2, 0.8): %s", paste(sprintf("%.17g", exact), collapse = ", "))
say("cbpp aghq K=25 at (-2, 0.8): %s", paste(sprintf("%.17g", aghq(Lb, -2, 0.8, 25, TRUE)), collapse = ", "))

# Posterior of theta_j = expit(mu + tau u) at the K = 10 estimate for herds 1 and 5: mean, sd and
# the 2.5% / 97.5% quantiles by Simpson's rule and uniroot() on the exact posterior of u.
post <- function(L, j, mu, tau, inv) {
  Lj <- if (identical(inv, plogis)) binomial_f(L$y[j], L$size[j]) else poisson_f(L$y[j], L$size[j])
  u0 <- modes(Lj, mu, tau)
  dens <- function(u) exp(Lj$f(mu + tau * u) - Lj$f(mu + tau * u0) - (u^2 - u0^2) / 2)
  # h'' <= -1: the posterior of u is within +-15 of its mode but for ~1e-49 of its mass.
  a <- u0 - 15; b <- u0 + 15
  Z <- simpson(dens, a, b)
  m <- simpson(function(u) inv(mu + tau * u) * dens(u), a, b) / Z
  v <- simpson(function(u) (inv(mu + tau * u) - m)^2 * dens(u), a, b) / Z
  cdf <- function(q) simpson(dens, a, q) / Z
  lo <- uniroot(function(q) cdf(q) - 0.025, c(a, b), tol = 1e-14)$root
  hi <- uniroot(function(q) cdf(q) - 0.975, c(a, b), tol = 1e-14)$root
  c(m, sqrt(v), inv(mu + tau * lo), inv(mu + tau * hi))
}
for (j in c(1, 5)) say("cbpp K=10 posterior herd %d: %s", j, paste(sprintf("%.15g", post(Lb, j, fit_cbpp_10$mu, fit_cbpp_10$tau, plogis)), collapse = ", "))

# Pumps: glmer(failures ~ 1 + offset(log(thousand_hours)) + (1 | pump), poisson).
d <- read.csv("tests/data/pumps.csv"); d$pump <- factor(d$pump)
Lp <- poisson_f(d$failures, d$thousand_hours); Lp$y <- d$failures; Lp$size <- d$thousand_hours
run("pumps", Lp, failures ~ 1 + offset(log(thousand_hours)) + (1 | pump), d, poisson, c(1, 25))
f <- fit_aghq(Lp, 10, c(-0.5, 1)); say("pumps K=10 aghq: mu %.17g tau2 %.17g loglik %.17g", f$mu, f$tau^2, f$loglik)
l0 <- sum(dpois(d$failures, sum(d$failures) / sum(d$thousand_hours) * d$thousand_hours, log = TRUE))
say("pumps tau=0 loglik %.17g; LRT K=10 %.17g", l0, 2 * (f$loglik - l0))
for (j in c(1, 10)) say("pumps K=10 posterior pump %d: %s", j, paste(sprintf("%.15g", post(Lp, j, f$mu, f$tau, exp)), collapse = ", "))

# Profile-likelihood 95% intervals at K = 10 (the other parameter maximised by optimize(), the ends by
# uniroot() where 2 (l_max - l_profile) = qchisq(0.95, 1)), for cbpp and the pumps.
profile_ci <- function(L, f, K, width) {  # the ends lie within mu +- width, tau within (0, 4)
  crit <- qchisq(0.95, 1)
  pm <- function(m) optimize(function(t) aghq(L, m, t, K), c(1e-6, 4), maximum = TRUE, tol = 1e-13)$objective
  pt <- function(t) optimize(function(m) aghq(L, m, t, K), f$mu + c(-5, 5), maximum = TRUE, tol = 1e-13)$objective
  dm <- function(m) 2 * (f$loglik - pm(m)) - crit
  dt <- function(t) 2 * (f$loglik - pt(t)) - crit
  c(uniroot(dm, f$mu + c(-width, 0), tol = 1e-13)$root, uniroot(dm, f$mu + c(0, width), tol = 1e-13)$root,
    uniroot(dt, c(1e-6, f$tau), tol = 1e-13)$root^2, uniroot(dt, c(f$tau, 4), tol = 1e-13)$root^2)
}
say("cbpp K=10 profile mu lower, upper, tau2 lower, upper: %s", paste(sprintf("%.12g", profile_ci(Lb, fit_cbpp_10, 10, 1)), collapse = ", "))
f_pumps_10 <- fit_aghq(Lp, 10, c(-0.5, 1))
say("pumps K=10 profile mu lower, upper, tau2 lower, upper: %s", paste(sprintf("%.12g", profile_ci(Lp, f_pumps_10, 10, 1.5)), collapse = ", "))
