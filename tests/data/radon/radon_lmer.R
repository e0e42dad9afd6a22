# Reference values for tests/reference/mixed_model_test.cpp: the varying-intercept radon models of
# Gelman and Hill (2007, ch. 12), log_radon ~ floor + (1 | county) and
# log_radon ~ floor + log_uranium + (1 | county), by REML and ML,
#  (a) with lme4's lmer (Debian r-cran-lme4), to the tolerance its optimiser reaches, and
#  (b) with an independent profiled-likelihood optimum: the N x N marginal covariance
#      V = sigma^2 (I + g Z Z'), sigma^2 and beta profiled out, and the root in g of the
#      derivative of the profiled deviance solved by uniroot to 1e-15 (dense matrices, no lme4).
# Run from the repository root: Rscript tests/data/radon/radon_lmer.R
# Writes tests/data/radon/radon_reference.csv (source, model, method, quantity, value).
suppressPackageStartupMessages(library(lme4))
d <- read.csv("tests/data/radon/radon.csv")
d$county <- factor(d$county)
f17 <- function(x) sprintf("%.17g", x)
rows <- list()
put <- function(source, model, method, name, value)
  rows[[length(rows) + 1]] <<- data.frame(source = source, model = model, method = method, name = name, value = f17(value))

forms <- list(floor = log_radon ~ floor + (1 | county), uranium = log_radon ~ floor + log_uranium + (1 | county))
for (model in names(forms)) for (reml in c(TRUE, FALSE)) {
  method <- if (reml) "REML" else "ML"
  fit <- lmer(forms[[model]], data = d, REML = reml,
              control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))
  b <- fixef(fit); se <- sqrt(diag(as.matrix(vcov(fit))))
  for (i in seq_along(b)) { put("lme4", model, method, paste0("beta:", names(b)[i]), b[i]); put("lme4", model, method, paste0("se:", names(b)[i]), se[i]) }
  vc <- as.data.frame(VarCorr(fit))
  put("lme4", model, method, "tau2", vc$vcov[1]); put("lme4", model, method, "sigma2", vc$vcov[2])
  put("lme4", model, method, "loglik", as.numeric(logLik(fit)))
  re <- ranef(fit, condVar = TRUE)$county
  pv <- attr(re, "postVar")[1, 1, ]
  for (j in seq_len(nrow(re))) { put("lme4", model, method, paste0("b:", rownames(re)[j]), re[j, 1]); put("lme4", model, method, paste0("b_sd:", rownames(re)[j]), sqrt(pv[j])) }

  # (b) the dense profiled likelihood.
  X <- model.matrix(lm(nobars(forms[[model]]), data = d)); y <- d$log_radon
  Z <- model.matrix(~ 0 + county, data = d); ZZ <- Z %*% t(Z)
  N <- nrow(X); p <- ncol(X); dfr <- if (reml) N - p else N
  parts <- function(g) {
    Hi <- solve(diag(N) + g * ZZ)
    M <- t(X) %*% Hi %*% X
    beta <- solve(M, t(X) %*% Hi %*% y)
    e <- y - X %*% beta
    list(Hi = Hi, M = M, beta = beta, e = e, r = as.numeric(t(e) %*% Hi %*% e))
  }
  deriv <- function(g) {  # d/dg of dfr log r + log det(I + g ZZ') [+ log det M for REML]
    q <- parts(g); HiZZ <- q$Hi %*% ZZ
    out <- -dfr * as.numeric(t(q$e) %*% HiZZ %*% q$Hi %*% q$e) / q$r + sum(diag(HiZZ))
    if (reml) out <- out - sum(diag(solve(q$M, t(X) %*% HiZZ %*% q$Hi %*% X)))
    out
  }
  g <- uniroot(deriv, c(1e-6, 10), tol = 1e-15, maxiter = 1000)$root
  q <- parts(g); sigma2 <- q$r / dfr
  se <- sqrt(diag(sigma2 * solve(q$M)))
  for (i in seq_len(p)) { put("dense", model, method, paste0("beta:", colnames(X)[i]), q$beta[i]); put("dense", model, method, paste0("se:", colnames(X)[i]), se[i]) }
  put("dense", model, method, "tau2", g * sigma2); put("dense", model, method, "sigma2", sigma2)
  ll <- -0.5 * (dfr * (1 + log(2 * pi * sigma2)) + as.numeric(determinant(diag(N) + g * ZZ)$modulus) +
                if (reml) as.numeric(determinant(q$M)$modulus) else 0)
  put("dense", model, method, "loglik", ll)
  # conditional modes and sds: b = g Z' H^-1 e, Var(b | y) = sigma2 g (I - g Z' H^-1 Z) (its diagonal)
  b <- g * t(Z) %*% q$Hi %*% q$e
  vb <- sigma2 * g * (1 - g * diag(t(Z) %*% q$Hi %*% Z))
  for (j in seq_along(b)) { put("dense", model, method, paste0("b:", j), b[j]); put("dense", model, method, paste0("b_sd:", j), sqrt(vb[j])) }
}
out <- do.call(rbind, rows)
write.csv(out, "tests/data/radon/radon_reference.csv", row.names = FALSE, quote = FALSE)
cat("wrote", nrow(out), "values\n")
