# Factors in raw mode (tests/cli/covariates_cli_test.cpp, RawRowsWithFactors): the radon rows with
# the floor as text ("basement" for 0, "first" for 1) and a three-level county zone from the county
# log-uranium ("low" below -0.5, "mid" below 0.2, else "high"), and lme4's REML fit of
# log_radon ~ floor + zone + (1 | county) with R's treatment contrasts (baseline: the first level in
# sorted order, "basement" and "high"). R 4.2, lme4 (Debian r-cran-lme4). Run from the repository root:
#   Rscript tests/data/radon/radon_factor.R
suppressPackageStartupMessages(library(lme4))
d <- read.csv("tests/data/radon/radon.csv")
d$floor <- ifelse(d$floor == 0, "basement", "first")
d$zone <- ifelse(d$log_uranium < -0.5, "low", ifelse(d$log_uranium < 0.2, "mid", "high"))
write.csv(d[, c("county", "floor", "zone", "log_radon")], "tests/data/radon/radon_factor.csv",
          row.names = FALSE, quote = FALSE)
m <- lmer(log_radon ~ floor + zone + (1 | county), data = d, REML = TRUE,
          control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-3, rhoend = 1e-12)))
vc <- as.data.frame(VarCorr(m))
out <- data.frame(name = c(paste0("beta:", names(fixef(m))), paste0("se:", names(fixef(m))), "tau2", "sigma2", "loglik"),
                  value = sprintf("%.17g", c(fixef(m), sqrt(diag(as.matrix(vcov(m)))), vc$vcov[1], vc$vcov[2],
                                             as.numeric(logLik(m)))))
write.csv(out, "tests/data/radon/radon_factor_reference.csv", row.names = FALSE, quote = FALSE)
