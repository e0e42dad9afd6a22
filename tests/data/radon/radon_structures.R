# Reference log-likelihoods of the three structures for the radon rows (tests/reference/mixed_model_test.cpp):
# separate = lm(y ~ x + county), pooled = lm(y ~ x), hierarchical = lmer(y ~ x + (1 | county), REML = FALSE),
# without covariates and with the floor. lm's are exact; lmer's to its optimiser's tolerance.
# Run from the repository root: Rscript tests/data/radon/radon_structures.R
suppressPackageStartupMessages(library(lme4))
d <- read.csv("tests/data/radon/radon.csv"); d$county <- factor(d$county)
ctl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
out <- rbind(
  data.frame(model = "none", structure = c("separate", "pooled", "hierarchical"),
             loglik = c(logLik(lm(log_radon ~ county, d)), logLik(lm(log_radon ~ 1, d)),
                        logLik(lmer(log_radon ~ 1 + (1 | county), d, REML = FALSE, control = ctl)))),
  data.frame(model = "floor", structure = c("separate", "pooled", "hierarchical"),
             loglik = c(logLik(lm(log_radon ~ floor + county, d)), logLik(lm(log_radon ~ floor, d)),
                        logLik(lmer(log_radon ~ floor + (1 | county), d, REML = FALSE, control = ctl)))))
out$loglik <- sprintf("%.17g", out$loglik)
write.csv(out, "tests/data/radon/radon_structures.csv", row.names = FALSE, quote = FALSE)
