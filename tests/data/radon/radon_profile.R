# Reference values for tests/cli/fit_raw_regression_figures_test.py: the profile log-likelihood of
# tau for log_radon ~ floor + (1 | county) (Gelman and Hill 2007, ch. 12), REML and ML: at each
# fixed tau, sigma^2 maximised by optimize and beta by generalised least squares, with the dense
# N x N marginal covariance V = sigma^2 I + tau^2 Z Z' (no lme4; through the eigendecomposition
# Z Z' = Q diag(lambda) Q', computed once, V^-1 = Q diag(1 / (sigma^2 + tau^2 lambda)) Q'); the 95% profile-likelihood
# interval of tau (uniroot on 2 (max - profile) = qchisq(0.95, 1)); and lme4's
# confint(method = "profile") for tau (.sig01; lme4 profiles the ML deviance for either fit).
# Run from the repository root: Rscript tests/data/radon/radon_profile.R
# Writes tests/data/radon/radon_profile.csv (source, method, name, value).
suppressPackageStartupMessages(library(lme4))
d <- read.csv("tests/data/radon/radon.csv")
d$county <- factor(d$county)
f17 <- function(x) sprintf("%.17g", x)
rows <- list()
put <- function(source, method, name, value)
  rows[[length(rows) + 1]] <<- data.frame(source = source, method = method, name = name, value = f17(value))

X <- model.matrix(~ floor, data = d); y <- d$log_radon
Z <- model.matrix(~ 0 + county, data = d)
N <- nrow(X); p <- ncol(X)
e <- eigen(Z %*% t(Z), symmetric = TRUE)
lambda <- pmax(e$values, 0); QX <- t(e$vectors) %*% X; Qy <- as.numeric(t(e$vectors) %*% y)
# The (restricted) log-likelihood at (tau, sigma2), beta at its GLS value.
loglik <- function(tau, sigma2, reml) {
  w <- 1 / (sigma2 + tau^2 * lambda)  # the eigenvalues of V^-1
  M <- t(QX) %*% (w * QX)
  beta <- solve(M, t(QX) %*% (w * Qy))
  r <- Qy - as.numeric(QX %*% beta)
  ll <- -0.5 * (N * log(2 * pi) - sum(log(w)) + sum(w * r^2))
  if (reml) ll <- ll + 0.5 * p * log(2 * pi) - 0.5 * as.numeric(determinant(M)$modulus)
  ll
}
profile <- function(tau, reml) optimize(function(s) loglik(tau, exp(s), reml), c(log(0.3), log(1.2)), maximum = TRUE, tol = 1e-10)$objective

for (reml in c(TRUE, FALSE)) {
  method <- if (reml) "REML" else "ML"
  best <- optimize(function(t) profile(t, reml), c(0.1, 0.6), maximum = TRUE, tol = 1e-9)
  put("dense", method, "tau", best$maximum)
  put("dense", method, "loglik", best$objective)
  for (t in c(0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)) put("dense", method, paste0("profile:", t), profile(t, reml))
  cut <- best$objective - qchisq(0.95, 1) / 2
  put("dense", method, "tau_lower", uniroot(function(t) profile(t, reml) - cut, c(0.01, best$maximum), tol = 1e-10)$root)
  put("dense", method, "tau_upper", uniroot(function(t) profile(t, reml) - cut, c(best$maximum, 1), tol = 1e-10)$root)
  fit <- lmer(log_radon ~ floor + (1 | county), data = d, REML = reml,
              control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))
  ci <- suppressMessages(confint(fit, parm = ".sig01", method = "profile", level = 0.95))
  put("lme4", method, "tau_lower", ci[1, 1])
  put("lme4", method, "tau_upper", ci[1, 2])
}
write.csv(do.call(rbind, rows), "tests/data/radon/radon_profile.csv", row.names = FALSE, quote = FALSE)
