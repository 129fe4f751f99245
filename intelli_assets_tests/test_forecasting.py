"""Forecast models: deterministic, recorded, and never a crash when a model cannot fit."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from intelli_assets.forecasting import cagr, forecast_series

F1 = [2, 3, 0, 1, 0, 2, 5, 2, 3, 8, 18, 14, 21, 26, 27, 31, 27, 43]


def test_same_input_same_forecast_and_model_record():
    a, b = forecast_series(F1), forecast_series(F1)
    assert a.ets.values == b.ets.values and a.arima.values == b.arima.values
    assert a.ets.spec["trend"] == "add"  # 'mul' cannot fit a series with zeros
    assert a.arima.spec["order"] == [1, 1, 0] and a.arima.spec["with_constant"] is True
    assert a.arima.spec["aic"] == pytest.approx(107.0446, abs=1e-3)


def test_the_fits_use_one_blas_thread_and_give_the_same_numbers(monkeypatch):
    """OpenBLAS's idle threads spin: the fits run with one, then the process's setting is back."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from intelli_assets import forecasting

    def blas_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    seen: list[set[int]] = []
    fit_ets = forecasting.fit_ets
    monkeypatch.setattr(forecasting, "fit_ets", lambda *args: (seen.append(blas_threads()), fit_ets(*args))[1])
    with threadpool_limits(limits=2, user_api="blas"):  # as on a 2-core machine by default
        assert blas_threads() == {2}
        limited = forecast_series(F1)
        assert seen == [{1}] and blas_threads() == {2}
    monkeypatch.undo()
    with threadpool_limits(limits=2, user_api="blas"):
        free = forecasting.fit_ets(forecasting.np.asarray(F1, dtype=float), 6)
    assert limited.ets.values == free.values and limited.ets.spec == free.spec


def test_too_short_series_warns_instead_of_failing():
    result = forecast_series([3, 4, 5])
    assert result.ets is None and result.arima is None
    assert result.warnings == ["forecast skipped: 3 years of history, at least 5 are needed"]


def test_constant_series_still_forecasts_flat():
    result = forecast_series([5] * 12)
    assert result.arima is not None and result.arima.values == pytest.approx([5.0] * 6, abs=1e-4)


def test_all_zero_series_gives_a_warning_not_an_exception():
    result = forecast_series([0] * 10)
    assert result.ets is None
    assert result.warnings == ["ETS model fitting failed: add trend: the fit is degenerate (non-finite BIC "
                               "or forecast); mul trend: needs positive values"]
    assert result.arima.values == pytest.approx([0.0] * 6, abs=1e-6)


def test_cagr_starts_at_first_positive_year():
    rate, start, end = cagr({2010: 0, 2011: 2, 2012: 4, 2013: 8})
    assert (start, end) == (2011, 2013) and rate == pytest.approx(1.0)
    assert cagr({2010: 0, 2011: 0}) is None
    assert cagr({2010: 5, 2011: 0}) is None


def test_the_worker_process_gives_exactly_the_in_process_result():
    from intelli_assets.forecast_worker import ForecastWorker

    worker = ForecastWorker()
    try:
        worker.submit(F1, 6)  # prefetched, then collected
        worker.submit([5] * 12, 4)
        flat = worker.forecast([5] * 12, 4)  # replies are matched to their own request
        fitted = worker.forecast(F1, 6)
        assert worker.alive
    finally:
        worker.close()
    local = forecast_series(F1, 6)
    assert (fitted.ets, fitted.arima, fitted.warnings) == (local.ets, local.arima, local.warnings)
    assert flat.arima.values == forecast_series([5] * 12, 4).arima.values
    assert not worker.alive


def test_a_caller_can_look_whether_the_prefetched_fits_are_in_without_blocking():
    from intelli_assets.forecast_worker import Forecaster, ForecastWorker

    forecaster = Forecaster(ForecastWorker())
    try:
        assert forecaster.fits_ready(0)  # nothing asked yet
        forecaster.prefetch(F1, 6)
        assert not forecaster.fits_ready(0)  # a just-started worker is still importing statsmodels
        assert forecaster.fits_ready(120)
        assert forecaster.worker._done and not forecaster.worker._pending  # read, waiting to be collected
        fitted = forecaster.forecast(F1, 6)
        assert forecaster.worker is not None  # the worker's own answer, no fallback
    finally:
        forecaster.close()
    local = forecast_series(F1, 6)
    assert (fitted.ets, fitted.arima) == (local.ets, local.arima)

    stuck = Forecaster(ForecastWorker(timeout=1.0))  # e.g. stopped, or swapping: it answers nothing
    stuck.prefetch(F1, 6)
    os.kill(stuck.worker._proc.pid, signal.SIGSTOP)
    looks = 0
    while not stuck.fits_ready(0.1):  # given up after its time-out, so the chart fits in process
        looks += 1
        assert looks < 3000, "a stuck worker was never given up"
    assert looks >= 1 and stuck.worker is None
    assert stuck.fallback_reason == ("forecast worker failed: it answered nothing for 1 s; "
                                     "fitting the models in the run's own process instead")  # for the run log
    assert stuck.forecast(F1, 6).arima.values == local.arima.values

    late = Forecaster(ForecastWorker())  # its answer came in time, but nobody looked for a while
    try:
        late.prefetch([5] * 12, 4)
        assert late.fits_ready(120)  # statsmodels imported: the next fit answers in a fraction of a second
        late.worker.timeout = 0.5
        late.prefetch(F1, 6)
        time.sleep(1.5)  # the step drawing other charts, not looking
        assert late.fits_ready(0) and late.worker is not None and late.fallback_reason is None
    finally:
        late.close()

    dead = Forecaster(ForecastWorker())
    dead.prefetch(F1, 6)
    dead.worker._proc.kill()
    dead.worker._proc.wait()
    assert dead.fits_ready(5)  # nothing to wait for: the chart fits in process
    assert dead.worker is None
    assert dead.forecast(F1, 6).arima.values == local.arima.values


def test_a_dead_worker_falls_back_to_fitting_in_process():
    from intelli_assets.forecast_worker import Forecaster, ForecastWorker

    forecaster = Forecaster(ForecastWorker())
    worker = forecaster.worker
    try:
        worker._proc.kill()
        worker._proc.wait()
        result = forecaster.forecast(F1, 6)
        assert result.arima.spec["order"] == [1, 1, 0]
        assert forecaster.worker is None  # dropped; later forecasts of this run fit in process
        assert not worker.alive
    finally:
        forecaster.close()


def test_intelli_run_starts_the_forecast_worker_before_its_run_and_the_run_fits_in_it(tmp_path, sample_workbook,
                                                                                     monkeypatch, capsys):
    """The CLI starts the worker once it knows a chart fits models, so statsmodels is imported on
    the other core while the run is set up; the run fits in that worker and starts none of its own."""
    import dagster as dg

    from intelli_assets import forecast_worker
    from intelli_assets.cli import main
    from intelli_assets.defs.charts import resources

    started = []

    class Recorded(forecast_worker.ForecastWorker):  # the real worker, its start time and fits noted
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.fits = 0
            started.append((time.time(), self))

        def submit(self, values: list[int], horizon: int) -> None:
            self.fits += 1
            super().submit(values, horizon)

    monkeypatch.setattr(forecast_worker, "ForecastWorker", Recorded)
    monkeypatch.setattr(resources, "ForecastWorker", Recorded)  # a run's own worker would be noted too
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("INTELLI_ARTIFACTS_DIR", raising=False)
    capsys.readouterr()
    assert main(["run", str(sample_workbook), "--charts", "patent_forecast,top_patent_countries", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["charts"]["patent_forecast"]["status"] == "success"
    ((at, worker),) = started  # one worker: the CLI's
    assert worker.fits >= 1 and not worker.alive  # the run fitted in it; closed with the CLI's run
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        run = instance.get_run_record_by_id(report["run_id"])
        warnings = [r.user_message for r in instance.all_logs(report["run_id"]) if r.level >= 30]
    assert at < run.start_time  # started before the run
    assert not any("forecast worker" in w for w in warnings)  # fitted there, not in the run's process

    started.clear()
    assert main(["run", str(sample_workbook), "--charts", "top_patent_countries", "--json"]) == 0
    assert started == []  # no chart fits models: no worker
