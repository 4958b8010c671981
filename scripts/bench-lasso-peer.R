#!/usr/bin/Rscript
# Time glmnet's cv.glmnet (Lasso, 5-fold CV, 100 lambdas, glmnet defaults
# otherwise) per neuron on a readout benchmark problem written by
# scripts/make-readout-bench.py.
#
# Usage:
#   Rscript scripts/bench-lasso-peer.R OUTDIR NNEURONS
#
# Fits the first NNEURONS neurons (set.seed(1) before each), timing only the
# cv.glmnet call (elapsed), and predicts the test rows at lambda.min.  Prints
# one JSON line: peer, version, neurons, seconds_per_neuron, r (Pearson r on
# the test rows), lambda_min, nonzero (nonzero weights at lambda.min).
suppressMessages(library(glmnet))
args <- commandArgs(trailingOnly = TRUE)
d <- args[1]
nneur <- as.integer(args[2])
meta <- scan(file.path(d, "meta.txt"), quiet = TRUE)
n <- meta[1]; p <- meta[2]; m <- meta[3]

rd <- function(name, size, what, len) {
  con <- file(file.path(d, name), "rb")
  on.exit(close(con))
  readBin(con, what = what, n = len, size = size, endian = "little")
}
# X.f32 is row-major n x p, i.e. column-major p x n: read that and transpose.
X <- t(matrix(rd("X.f32", 4, "numeric", n * p), nrow = p, ncol = n))
Y <- matrix(rd("Y.f64", 8, "numeric", n * m), nrow = n, ncol = m, byrow = TRUE)
test <- rd("test.u8", 1, "integer", n) == 1     # size 1 reads unsigned bytes as integers
Xtr <- X[!test, , drop = FALSE]
Xte <- X[test, , drop = FALSE]
rm(X); invisible(gc())

secs <- r <- lam <- nz <- numeric(nneur)
for (j in seq_len(nneur)) {
  set.seed(1)
  secs[j] <- system.time(
    fit <- cv.glmnet(Xtr, Y[!test, j], nfolds = 5, nlambda = 100, alpha = 1)
  )[["elapsed"]]
  pred <- drop(predict(fit, newx = Xte, s = "lambda.min"))
  # cor() is NA (with a warning) when lambda.min selects no feature at all
  r[j] <- suppressWarnings(cor(pred, Y[test, j]))
  lam[j] <- fit$lambda.min
  nz[j] <- sum(coef(fit, s = "lambda.min")[-1] != 0)   # [-1]: the intercept
}

arr <- function(x, fmt) {
  s <- sprintf(fmt, x)
  s[is.na(x)] <- "null"
  paste0("[", paste(s, collapse = ","), "]")
}
cat(sprintf(paste0('{"peer": "glmnet cv.glmnet", "version": "%s", "neurons": %d, ',
                   '"seconds_per_neuron": %s, "r": %s, "lambda_min": %s, "nonzero": %s}\n'),
            as.character(packageVersion("glmnet")), nneur, arr(secs, "%.3f"),
            arr(r, "%.6f"), arr(lam, "%.6g"), arr(nz, "%d")))
