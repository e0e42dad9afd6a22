# Reference gamma-Poisson maximum likelihood for tests/cpu/count_fit_test.cpp and the CLI tests; run
# from the repository root: Rscript tests/data/pumps_ml.R (R 4.2; MASS for the cross-check).
# Pump failures (Gaver and O'Muircheartaigh 1987; George, Makov and Smith 1993; the BUGS "pumps"
# example): y_j failures in t_j thousand hours, y_j ~ Poisson(t_j theta_j), theta_j ~ Gamma(shape, rate).
d <- read.csv("tests/data/pumps.csv")
y <- d$failures; E <- d$thousand_hours
ll <- function(a, b) sum(dnbinom(y, size = a, mu = a / b * E, log = TRUE))
nll <- function(p) -ll(exp(p[1]), exp(p[2]))
o <- nlminb(c(0, 0), nll, control = list(rel.tol = 1e-15, x.tol = 1e-15, eval.max = 5000, iter.max = 5000))
# Newton on the score in (a, b) with R's digamma/trigamma, to a score of ~1e-13.
score <- function(a, b) c(sum(digamma(y + a) - digamma(a) + log(b / (b + E))), sum(a / b - (a + y) / (b + E)))
p <- exp(o$par)
for (i in 1:30) {
  a <- p[1]; b <- p[2]
  H <- matrix(c(sum(trigamma(y + a) - trigamma(a)), sum(1 / b - 1 / (b + E)),
                sum(1 / b - 1 / (b + E)), sum(-a / b^2 + (a + y) / (b + E)^2)), 2)
  p <- p - solve(H, score(a, b))
}
a <- p[1]; b <- p[2]
cat(sprintf("shape %.15g rate %.15g mean %.15g loglik %.15g\n", a, b, a / b, ll(a, b)))
cat(sprintf("score %.3g %.3g\n", score(a, b)[1], score(a, b)[2]))
m0 <- sum(y) / sum(E)
cat(sprintf("poisson loglik %.15g LRT %.15g\n", sum(dpois(y, m0 * E, log = TRUE)), 2 * (ll(a, b) - sum(dpois(y, m0 * E, log = TRUE)))))
# Cross-check: MASS::glm.nb with an offset fits the same model (theta = shape, exp(intercept) = mean).
f <- MASS::glm.nb(failures ~ 1 + offset(log(thousand_hours)), data = d, control = glm.control(epsilon = 1e-14, maxit = 200))
cat(sprintf("glm.nb theta %.10g mean %.10g\n", f$theta, exp(coef(f)[1])))
# Posterior 95% interval of pump 1 (qgamma at the estimate).
cat(sprintf("pump1 %.17g %.17g\n", qgamma(0.025, a + y[1], b + E[1]), qgamma(0.975, a + y[1], b + E[1])))
# Profile-likelihood 95% intervals for the mean m and the shape: the other parameter maximised by
# optimize() in log scale, uniroot() where 2 (l_max - l_profile) = qchisq(0.95, 1).
lm_ <- function(m, a) ll(a, a / m)
lmax <- ll(a, b); crit <- qchisq(0.95, 1) / 2
prof_m <- function(m) optimize(function(la) lm_(m, exp(la)), c(-8, 8), maximum = TRUE, tol = 1e-13)$objective
prof_a <- function(s) optimize(function(lm) lm_(exp(lm), s), c(-8, 5), maximum = TRUE, tol = 1e-13)$objective
f_m <- function(lm) lmax - prof_m(exp(lm)) - crit
f_a <- function(la) lmax - prof_a(exp(la)) - crit
r <- c(exp(uniroot(f_m, c(log(a / b) - 5, log(a / b)), tol = 1e-14)$root), exp(uniroot(f_m, c(log(a / b), log(a / b) + 5), tol = 1e-14)$root),
       exp(uniroot(f_a, c(log(a) - 8, log(a)), tol = 1e-14)$root), exp(uniroot(f_a, c(log(a), log(a) + 8), tol = 1e-14)$root))
cat(sprintf("profile mean [%.12g, %.12g] shape [%.12g, %.12g]\n", r[1], r[2], r[3], r[4]))
