# Reference values for the meta-regression tests (tests/reference/meta_regression_test.cpp and
# tests/cli/covariates_cli_test.cpp): metafor 3.8-1 (Debian r-cran-metafor) on the BCG vaccine
# trials with moderators. Run from the repository root:
#   Rscript tests/data/metafor/meta_regression.R
# Writes tests/data/metafor/bcg_regression.csv (the log risk ratios as escalc(measure = "RR")
# computes them, with the moderators and an offset column) and bcg_regression_reference.csv
# (model, method, quantity, value), every number with 17 significant digits.
suppressPackageStartupMessages(library(metafor))
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg,
              data = read.csv("tests/data/metafor/dat.bcg.csv"))
dat$off <- 0.01 * (dat$year - 1960)   # a known shift of each prior mean (--offset)
f17 <- function(x) ifelse(is.na(x), "", sprintf("%.17g", x))
write.csv(data.frame(trial = dat$trial, yi = f17(dat$yi), vi = f17(dat$vi), ablat = dat$ablat,
                     alloc = dat$alloc, off = f17(dat$off)),
          "tests/data/metafor/bcg_regression.csv", row.names = FALSE, quote = FALSE)

rows <- list()
put <- function(model, method, name, value) {
  rows[[length(rows) + 1]] <<- data.frame(model = model, method = method, name = name, value = f17(value))
}
# Q-profile interval solved far below uniroot's default tolerance, so it is the interval itself.
tight <- list(tol = 1e-15, maxiter = 10000)
record <- function(model, method, res, offset = 0) {
  b <- coef(res)
  for (i in seq_along(b)) {
    nm <- names(b)[i]
    put(model, method, paste0("beta:", nm), res$beta[i])
    put(model, method, paste0("se:", nm), res$se[i])
    put(model, method, paste0("z:", nm), res$zval[i])
    put(model, method, paste0("p:", nm), res$pval[i])
    put(model, method, paste0("ci_lower:", nm), res$ci.lb[i])
    put(model, method, paste0("ci_upper:", nm), res$ci.ub[i])
  }
  put(model, method, "tau2", res$tau2)
  put(model, method, "tau2_se", res$se.tau2)
  put(model, method, "QE", res$QE)
  put(model, method, "QE_p", res$QEp)
  put(model, method, "QM", res$QM)
  put(model, method, "QM_p", res$QMp)
  if (!is.null(res$R2)) put(model, method, "R2", res$R2)
  put(model, method, "I2", res$I2)
  put(model, method, "H2", res$H2)
  put(model, method, "ll_ML", res$fit.stats["ll", "ML"])
  put(model, method, "ll_REML", res$fit.stats["ll", "REML"])
  if (!res$tau2.fix) {
    ci <- confint(res, control = tight)$random
    put(model, method, "tau2_lower", ci["tau^2", "ci.lb"])
    put(model, method, "tau2_upper", ci["tau^2", "ci.ub"])
  }
  if (!(method %in% c("DL", "SJ"))) {
    mse <- mse_fh(res, method)
    for (j in seq_along(mse)) put(model, method, paste0("mse:", j), mse[j])
  }
  bl <- blup(res)
  for (j in seq_along(bl$pred)) {
    put(model, method, paste0("blup:", j), bl$pred[j] + offset[(j - 1) %% length(offset) + 1])
    put(model, method, paste0("blup_se:", j), bl$se[j])
  }
}

# The Fay-Herriot EBLUP's mean squared error as R's sae::mseFH defines it (sae is not in Debian),
# written here from the papers with k x k matrices: Prasad and Rao (1990) for the moment estimator
# (metafor's HE), Datta and Lahiri (2000) for REML and ML, Datta, Rao and Smith (2005) for the
# Fay-Herriot moment estimator (metafor's EB and PM solve its equation); g1 + g2 for a known tau2.
mse_fh <- function(res, method, offset = 0) {
  X <- model.matrix(res); D <- res$vi; A <- res$tau2; m <- length(D)
  V <- diag(A + D); Vi <- solve(V)
  Q <- solve(t(X) %*% Vi %*% X)
  B <- D / (A + D)
  g1 <- D * A / (A + D)
  g2 <- B^2 * diag(X %*% Q %*% t(X))
  bias <- 0
  if (method == "HE") varA <- 2 / m^2 * sum((A + D)^2)
  if (method == "REML") varA <- 2 / sum(diag(Vi %*% Vi))
  if (method == "ML") {
    varA <- 2 / sum(diag(Vi %*% Vi))
    bias <- -sum(diag(Q %*% t(X) %*% Vi %*% Vi %*% X)) / sum(diag(Vi %*% Vi))
  }
  if (method %in% c("EB", "PM")) {
    s1 <- sum(diag(Vi)); s2 <- sum(diag(Vi %*% Vi))
    varA <- 2 * m / s1^2
    bias <- 2 * (m * s2 - s1^2) / s1^3
  }
  if (method == "fixed") varA <- 0
  g3 <- B^2 * varA / (A + D)
  g1 + g2 + 2 * g3 - B^2 * bias
}

methods <- c("HE", "DL", "PM", "SJ", "ML", "REML", "EB")
for (m in methods) record("ablat", m, rma(yi, vi, mods = ~ ablat, data = dat, method = m))
record("ablat", "fixed", rma(yi, vi, mods = ~ ablat, data = dat, tau2 = 0.05))
# A factor with treatment contrasts (baseline: the first level in sorted order, "alternate").
for (m in c("REML", "DL")) record("ablat+alloc", m, rma(yi, vi, mods = ~ ablat + alloc, data = dat, method = m))
# No intercept: every level of the factor has its own coefficient.
record("0+alloc", "REML", rma(yi, vi, mods = ~ 0 + alloc, data = dat, method = "REML"))
# A known offset: theta_j ~ N(x_j' beta + off_j, tau2) is the model of y_j - off_j.
record("ablat+offset", "REML", rma(yi - off, vi, mods = ~ ablat, data = dat, method = "REML"), dat$off)

out <- do.call(rbind, rows)
write.csv(out, "tests/data/metafor/bcg_regression_reference.csv", row.names = FALSE, quote = FALSE)
cat("wrote", nrow(out), "reference values\n")
