"""Deterministic yearly forecasts: Holt's ETS (additive vs multiplicative trend, by BIC) and
a small stepwise auto-ARIMA (Hyndman-Khandakar, as pmdarima's `auto_arima(seasonal=False)`),
both on statsmodels. A model that cannot fit yields a warning, never an exception.
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass, field

import numpy as np

ONE_BLAS_THREAD = threading.Lock()  # held by a fit while the process's BLAS has one thread


@dataclass
class Forecast:
    model: str
    values: list[float]
    spec: dict = field(default_factory=dict)


@dataclass
class ForecastResult:
    ets: Forecast | None
    arima: Forecast | None
    warnings: list[str]


def fit_ets(y: np.ndarray, horizon: int) -> Forecast:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    best: Forecast | None = None
    errors = []
    for trend in ("add", "mul"):
        if trend == "mul" and (y <= 0).any():
            errors.append("mul trend: needs positive values")
            continue
        try:
            fit = ExponentialSmoothing(y, trend=trend, seasonal=None).fit()
        except Exception as exc:  # noqa: BLE001 - statsmodels raises many kinds
            errors.append(f"{trend} trend: {exc}")
            continue
        values = [float(v) for v in fit.predict(len(y), len(y) + horizon - 1)]
        if not all(math.isfinite(v) for v in values) or not math.isfinite(fit.bic):
            errors.append(f"{trend} trend: the fit is degenerate (non-finite BIC or forecast)")
            continue
        if best is None or fit.bic < best.spec["bic"]:
            best = Forecast("ETS", values, {"trend": trend, "bic": round(float(fit.bic), 4)})
    if best is None:
        raise ValueError("; ".join(errors) or "no ETS model fitted")
    return best


def kpss_diffs(y: np.ndarray, alpha: float = 0.05, max_d: int = 2) -> int:
    """Order of differencing by repeated KPSS tests (pmdarima's `ndiffs(test='kpss')`)."""
    from statsmodels.tsa.stattools import kpss

    d, x = 0, y.astype(float)
    while d < max_d and len(x) > 3 and np.ptp(x) > 0:
        lags = int(np.trunc(3 * np.sqrt(len(x)) / 13))
        _, pvalue, *_ = kpss(x, regression="c", nlags=lags, result_object=False)
        if pvalue >= alpha:
            break
        d, x = d + 1, np.diff(x)
    return d


def _fit_arima(y: np.ndarray, order: tuple[int, int, int], constant: bool):
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    trend = "c" if constant else None
    return SARIMAX(y, order=order, trend=trend).fit(method="lbfgs", maxiter=50, disp=0)


def fit_arima(y: np.ndarray, horizon: int, max_p: int = 5, max_q: int = 5) -> Forecast:
    d = kpss_diffs(y)
    allow_constant = d < 2
    tried: dict[tuple, float] = {}
    fits = {}

    def score(p: int, q: int, constant: bool) -> float:
        key = (p, q, constant)
        if key not in tried:
            try:
                fit = _fit_arima(y, (p, d, q), constant)
                tried[key] = float(fit.aic) if math.isfinite(fit.aic) else math.inf
                fits[key] = fit
            except Exception:  # noqa: BLE001
                tried[key] = math.inf
        return tried[key]

    starts = [(2, 2, allow_constant), (0, 0, allow_constant), (1, 0, allow_constant), (0, 1, allow_constant),
              (0, 0, False)]
    best = min(starts, key=lambda k: score(*k))
    improved = True
    while improved:
        improved = False
        p, q, c = best
        neighbours = [(p + dp, q + dq, c) for dp, dq in
                      ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1), (-1, 1), (1, -1))]
        if allow_constant:
            neighbours.append((p, q, not c))
        for cand in neighbours:
            if 0 <= cand[0] <= max_p and 0 <= cand[1] <= max_q and score(*cand) < score(*best):
                best, improved = cand, True
    if not math.isfinite(tried[best]):
        raise ValueError("no ARIMA order could be fitted")
    p, q, constant = best
    values = [float(v) for v in fits[best].forecast(horizon)]
    return Forecast("ARIMA", values, {"order": [p, d, q], "with_constant": constant,
                                      "aic": round(tried[best], 4), "models_tried": len(tried)})


def import_models() -> None:
    """The statsmodels modules the fits use (~0.75 s the first time)."""
    import statsmodels.tsa.holtwinters  # noqa: F401
    import statsmodels.tsa.statespace.sarimax  # noqa: F401
    import statsmodels.tsa.stattools  # noqa: F401


def forecast_series(values: list[int], horizon: int = 6) -> ForecastResult:
    """Both forecasts for a yearly series; failures become warnings."""
    y = np.asarray(values, dtype=float)
    notes: list[str] = []
    result = ForecastResult(None, None, notes)
    if len(y) < 5:
        notes.append(f"forecast skipped: {len(y)} years of history, at least 5 are needed")
        return result
    import_models()  # statsmodels installs its own warning filters on import: import, then silence
    from threadpoolctl import threadpool_limits

    # one BLAS thread: the models' matrices are tiny, and OpenBLAS's idle threads spin, doubling
    # the fits' CPU (and their time fourfold when the cores are busy); the numbers are the same.
    # The limit is the process's: fits in two threads at once take turns, so it is always restored
    with ONE_BLAS_THREAD, threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; quality is reported as BIC/AIC
        try:
            result.ets = fit_ets(y, horizon)
        except Exception as exc:  # noqa: BLE001
            notes.append(f"ETS model fitting failed: {exc}")
        try:
            result.arima = fit_arima(y, horizon)
        except Exception as exc:  # noqa: BLE001
            notes.append(f"ARIMA model fitting failed: {exc}")
    return result


def cagr(series: dict[int, int]) -> tuple[float, int, int] | None:
    """Compound annual growth over the window's own first and last years (first positive start)."""
    years = sorted(series)
    positive = [y for y in years if series[y] > 0]
    if not positive or positive[0] >= years[-1] or series[years[-1]] <= 0:
        return None
    start, end = positive[0], years[-1]
    rate = (series[end] / series[start]) ** (1 / (end - start)) - 1
    return rate, start, end
