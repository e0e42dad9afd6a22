# Reference maximum likelihood for tests/cpu/beta_binomial_fit_test.cpp; run from the repository
# root: Rscript tests/data/rat_tumors_ml.R (R 4.2, base only).
# The beta-binomial fit to BDA3's 70 historical rat-tumour experiments: nlminb on the negative
# log-likelihood in log parameters (from optim's BFGS), then Newton on the score with R's own
# digamma/trigamma until the score is ~1e-14 (nlminb alone stops with a score of ~2e-6).
d <- read.csv("tests/data/rat_tumors.csv", comment.char = "#")[1:70, ]
nll <- function(p) { a <- exp(p[1]); b <- exp(p[2]); -sum(lbeta(d$y + a, d$K - d$y + b) - lbeta(a, b)) }
o <- optim(c(0, 2), nll, method = "BFGS", control = list(reltol = 1e-16, maxit = 1000))
o2 <- nlminb(o$par, nll, control = list(rel.tol = 1e-15, x.tol = 1e-15, eval.max = 1000, iter.max = 1000))
score <- function(a, b) c(sum(digamma(d$y + a) - digamma(a) - digamma(d$K + a + b) + digamma(a + b)),
                          sum(digamma(d$K - d$y + b) - digamma(b) - digamma(d$K + a + b) + digamma(a + b)))
p <- exp(o2$par)
for (i in 1:20) {
  a <- p[1]; b <- p[2]
  t0 <- sum(trigamma(a + b) - trigamma(d$K + a + b))
  H <- matrix(c(sum(trigamma(d$y + a) - trigamma(a)) + t0, t0, t0, sum(trigamma(d$K - d$y + b) - trigamma(b)) + t0), 2)
  p <- p - solve(H, score(a, b))
}
a <- p[1]; b <- p[2]
ll <- sum(lbeta(d$y + a, d$K - d$y + b) - lbeta(a, b) + lchoose(d$K, d$y))
p0 <- sum(d$y) / sum(d$K)
ll0 <- sum(dbinom(d$y, d$K, p0, log = TRUE))
cat(sprintf("alpha %.15g beta %.15g mean %.15g loglik %.15g\n", a, b, a / (a + b), ll))
cat(sprintf("score %.3g %.3g\n", score(a, b)[1], score(a, b)[2]))
cat(sprintf("binomial loglik %.15g LRT %.15g\n", ll0, 2 * (ll - ll0)))
# Profile-likelihood 95% intervals for m and nu: for each fixed value the other parameter is
# maximised by optimize() (on logit m or log nu), and uniroot() finds where 2 (l_max - l_profile)
# equals qchisq(0.95, 1).
llf <- function(m, nu) sum(lbeta(d$y + m * nu, d$K - d$y + (1 - m) * nu) - lbeta(m * nu, (1 - m) * nu))
lmax <- llf(a / (a + b), a + b)
crit <- qchisq(0.95, 1) / 2
prof_m <- function(m) optimize(function(lv) llf(m, exp(lv)), c(-5, 15), maximum = TRUE, tol = 1e-13)$objective
prof_nu <- function(nu) optimize(function(u) llf(plogis(u), nu), c(-6, 3), maximum = TRUE, tol = 1e-13)$objective
m_hat <- a / (a + b); nu_hat <- a + b
f_m <- function(m) lmax - prof_m(m) - crit
f_nu <- function(lnu) lmax - prof_nu(exp(lnu)) - crit
m_lo <- uniroot(f_m, c(0.05, m_hat), tol = 1e-14)$root
m_hi <- uniroot(f_m, c(m_hat, 0.4), tol = 1e-14)$root
nu_lo <- exp(uniroot(f_nu, c(0, log(nu_hat)), tol = 1e-14)$root)
nu_hi <- exp(uniroot(f_nu, c(log(nu_hat), 10), tol = 1e-14)$root)
cat(sprintf("profile m [%.12g, %.12g] nu [%.12g, %.12g]\n", m_lo, m_hi, nu_lo, nu_hi))
