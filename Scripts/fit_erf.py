#!/usr/bin/env python3
"""Fits the rational erf the forward pass's GELU uses (erf_ps in Sources/CKernels/vector_math.h):
erf(x) ≈ x·P(x²)/Q(x²) on 0 ≤ x ≤ 3.92 (beyond it erf rounds to 1 in Float), P of degree 6 and
Q of degree 5 in x², Q(0) = 1. Linearised least squares on Chebyshev nodes, reweighted by 1/Q and
then towards the largest errors (Lawson), in double; prints the Float coefficients and the worst
absolute error of a Float evaluation against math.erf. Needs numpy only. The result is already in
the sources; this records where the numbers come from."""
import math

import numpy as np

LIMIT, P_TERMS, Q_TERMS = 3.92, 7, 5


def fit():
    n = 6000
    x = (np.cos(np.pi * (np.arange(n) + 0.5) / n) + 1) / 2 * LIMIT
    y = np.array([math.erf(v) for v in x])
    scale = LIMIT * LIMIT
    u = x * x / scale  # x² scaled to [0, 1] for a well-conditioned system
    q_previous, weights, best = np.ones_like(x), np.ones_like(x), None
    for iteration in range(200):
        a = np.hstack([x[:, None] * u[:, None] ** np.arange(P_TERMS),
                       -(y[:, None] * u[:, None] ** np.arange(1, Q_TERMS + 1))])
        w = weights / np.abs(q_previous)
        coefficients, *_ = np.linalg.lstsq(a * w[:, None], y * w, rcond=None)
        p = coefficients[:P_TERMS]
        q = np.concatenate([[1.0], coefficients[P_TERMS:]])
        q_values = np.polyval(q[::-1], u)
        error = x * np.polyval(p[::-1], u) / q_values - y
        worst = np.max(np.abs(error))
        if best is None or worst < best[0]:
            best = (worst, p.copy(), q.copy())
        q_previous = q_values
        if iteration > 10:
            weights = weights * (np.abs(error) / worst) ** 0.3 + 1e-12
            weights /= weights.max()
    _, p, q = best
    # Back to powers of x² itself.
    return ([p[k] / scale ** k for k in range(P_TERMS)], [q[k] / scale ** k for k in range(Q_TERMS + 1)])


def float_error(p, q):
    x = np.linspace(0, 6, 300001).astype(np.float32)
    a = np.minimum(x, np.float32(LIMIT))
    u = a * a
    pf, qf = np.float32(p), np.float32(q)
    pv = np.full_like(u, pf[-1])
    for c in pf[-2::-1]:
        pv = pv * u + c
    qv = np.full_like(u, qf[-1])
    for c in qf[-2::-1]:
        qv = qv * u + c
    values = (a * pv / qv).astype(np.float64)
    return np.max(np.abs(values - np.array([math.erf(float(v)) for v in x])))


if __name__ == "__main__":
    p, q = fit()
    print("P (x² powers 0…6):", ", ".join(repr(float(np.float32(c))) for c in p))
    print("Q (x² powers 0…5):", ", ".join(repr(float(np.float32(c))) for c in q))
    print(f"worst absolute error of a Float evaluation on [0, 6]: {float_error(p, q):.3g}")
