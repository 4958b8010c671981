#!/usr/bin/Rscript
# Write tests/fixtures/lasso/*.csv: glmnet (Debian r-cran-glmnet) solutions
# of the Lasso and the elastic net on a fixed lambda path, for
# tests/test_lasso.c.  Gaussian family, unpenalised intercept, no
# standardisation, thresh = 1e-14 so the solutions are exact to rounding.
suppressMessages(library(glmnet))
set.seed(2010)
out <- "tests/fixtures/lasso"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
n <- 50; p <- 80
X <- matrix(rnorm(n * p), n, p) %*% diag(1 + (0:(p - 1)) %% 3)
X <- round(X, 4)                                   # exactly representable in the CSV and as float
w <- c(rnorm(6) * 2, rep(0, p - 6))
y <- drop(X %*% w + rnorm(n))
# glmnet fits the gaussian family on y scaled to unit variance (1/n) and scales
# back; for the elastic net that changes the weight of the ridge term, so the
# fixture uses a y that already has unit variance: then glmnet solves exactly
# the documented objective 1/(2n) RSS + lambda (alpha l1 + (1-alpha)/2 l2).
y <- round((y - mean(y)) / sqrt(mean((y - mean(y))^2)) + 3, 6)
write.table(X, file.path(out, "X.csv"), sep = ",", row.names = FALSE, col.names = FALSE)
write.table(y, file.path(out, "y.csv"), sep = ",", row.names = FALSE, col.names = FALSE)
for (alpha in c(1, 0.5)) {
  lmax <- max(abs(crossprod(scale(X, scale = FALSE), y - mean(y)))) / n / alpha
  lambda <- lmax * exp(seq(log(0.9), log(0.01), length.out = 30))
  f <- glmnet(X, y, family = "gaussian", alpha = alpha, lambda = lambda, standardize = FALSE, thresh = 1e-14,
              maxit = 1e7)
  tag <- if (alpha == 1) "lasso" else "enet"
  write.table(lambda, file.path(out, paste0("lambda_", tag, ".csv")), sep = ",", row.names = FALSE, col.names = FALSE)
  write.table(t(as.matrix(f$beta)), file.path(out, paste0("beta_", tag, ".csv")), sep = ",", row.names = FALSE, col.names = FALSE)
  write.table(f$a0, file.path(out, paste0("a0_", tag, ".csv")), sep = ",", row.names = FALSE, col.names = FALSE)
}
cat("glmnet", as.character(packageVersion("glmnet")), "fixtures written to", out, "\n")
