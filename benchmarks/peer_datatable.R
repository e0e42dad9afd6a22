# The peer of `shrink fit` (moment estimator) in R data.table: fread, grouped n/mean/var, the
# moment formula, and the per-group table written with fwrite (the same work shrink does).
# Prints seconds and the estimates so the two can be compared.
suppressMessages(library(data.table))
args <- commandArgs(trailingOnly = TRUE)
setDTthreads(0)
t0 <- Sys.time()
d <- fread(args[1])
g <- d[, .(n = .N, m = mean(y), v = var(y)), by = group]
sigma2 <- g[n > 1, sum((n - 1) * v) / sum(n - 1)]
vj <- sigma2 / g$n
tau2 <- max(0, var(g$m) - mean(vj))
w <- 1 / (vj + tau2)
mu <- sum(w * g$m) / sum(w)
B <- vj / (vj + tau2)
z <- qnorm(0.975)
g[, `:=`(se = sqrt(vj), shrinkage = B, estimate = m + B * (mu - m), sd = sqrt(vj * (1 - B)))]
g[, `:=`(lower = estimate - z * sd, upper = estimate + z * sd)]
setorder(g, group)
fwrite(g[, .(group, n, mean = m, se, shrinkage, estimate, sd, lower, upper)], args[2])
secs <- as.numeric(Sys.time() - t0, units = "secs")
cat(sprintf("seconds=%.4f tau2=%.12g mu=%.12g sigma2=%.12g threads=%d\n", secs, tau2, mu, sigma2, getDTthreads()))
