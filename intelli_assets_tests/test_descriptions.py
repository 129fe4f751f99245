"""AI descriptions against a real HTTP server on loopback speaking the OpenAI chat API
(`fake_openai.FakeOpenAI`), driven by the real `openai` client: what is sent (image, numbers,
context), retries, fallbacks and every failure mode; then `intelli describe` on a real render,
and a materialization launched through a real `dagster dev` as the UI's Materialize does."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from intelli_assets.charts import CHARTS
from intelli_assets.cli import main
from intelli_assets.defs.runs.status import step_failures
from intelli_assets.descriptions import (
    ChartRender,
    DescriptionCancelled,
    DescriptionError,
    DescriptionRequest,
    EndpointAuthError,
    EndpointNotConfigured,
    describe,
    endpoint_from_env,
)
from intelli_assets_tests.fake_openai import COMPLETION_TOKENS, PROMPT_TOKENS, FakeOpenAI, error_body
from intelli_assets_tests.servers import dagster_dev, free_port, graphql, prepare_home
from intelli_assets_tests.test_webserver import launch_assets_and_wait
from intelli_assets_tests.waiting import wait_for

CHART = "top_patent_countries"
CHART_DATA = {"type": "horizontal_bar", "title": "Top 3 jurisdicciones de publicación",
              "x_axis": {"label": "Número de Patentes Publicadas", "values": [41, 96]},
              "y_axis": {"label": "Jurisdicción", "categories": ["US", "CN"]},
              "series": [{"name": "Number of Publications", "data": [41, 96], "labels": ["US", "CN"]}],
              "totals": {"total_publications": 137, "ecuador_rank": 8}}


# --- the domain client against the fake endpoint ------------------------------------------------

@pytest.fixture
def render(tmp_path) -> ChartRender:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # any bytes: the client only forwards them
    (tmp_path / "chart.png").write_bytes(png)
    files = {"png": {"path": str(tmp_path / "chart.png"), "sha256": hashlib.sha256(png).hexdigest(), "bytes": len(png)}}
    return ChartRender("sample-0123456789", CHART, "abcdef012345", tmp_path, "run-1", time.time(), CHART_DATA,
                       files, {"formats": ["png"], "style": {"title": None}})


def call(ai: FakeOpenAI, render: ChartRender, models: tuple[str, ...] = ("vision",), events: list | None = None,
         text_only: bool = False, cancelled=lambda: False, **settings: float):
    """Describe `render` at the fake endpoint with the key in $OPENAI_API_KEY; events collected."""
    endpoint = endpoint_from_env(ai.url, **{"timeout": 5.0, "backoff": 0.05, **settings})
    request = DescriptionRequest(render, "focus on Ecuador", "es", models, 120, text_only)
    sink = [] if events is None else events
    return describe(endpoint, request, render.read_png(optional=True), lambda name, fields: sink.append((name, fields)),
                    cancelled)


@pytest.fixture
def ai(monkeypatch):
    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        yield fake


def names(events: list) -> list[str]:
    return [name for name, _ in events]


def test_the_request_holds_the_image_the_chart_numbers_and_the_context(ai, render):
    events: list = []
    result = call(ai, render, events=events)
    (request,) = ai.requests
    png = Path(render.files["png"]["path"]).read_bytes()
    assert request.image_urls == ["data:image/png;base64," + base64.b64encode(png).decode()]
    assert request.headers["authorization"] == f"Bearer {ai.api_key}"
    assert request.body["messages"][0]["role"] == "system"
    text = request.text
    assert "[41,96]" in text and '"total_publications":137' in text and "Top 3 jurisdicciones" in text
    assert "X axis: Número de Patentes Publicadas; Y axis: Jurisdicción" in text
    assert "focus on Ecuador" in text and "in Spanish, in at most 120 words" in text
    assert (result.text, result.model, result.mode) == ("Descripción de prueba por vision: China lidera con 96 "
                                                        "publicaciones.", "vision", "image")
    assert result.usage == {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}
    assert names(events) == ["MODEL_ATTEMPT", "MODEL_SUCCESS"] and result.attempts == 1
    snapshot = json.dumps(result.snapshot)
    assert base64.b64encode(png).decode()[:40] not in snapshot  # no image bytes in the snapshot
    assert result.snapshot["image"] == {"sent": True, "media_type": "image/png", "bytes": len(png),
                                        "sha256": render.files["png"]["sha256"]}


def test_429_waits_for_retry_after_then_succeeds(ai, render):
    ai.faults = {1: "rate_limit"}
    events: list = []
    started = time.monotonic()
    result = call(ai, render, events=events)
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured
    assert names(events) == ["MODEL_ATTEMPT", "MODEL_FAILED", "MODEL_ATTEMPT", "MODEL_SUCCESS"]
    assert events[1][1]["kind"] == "rate_limited" and events[1][1]["retry_in_s"] == 1.0
    assert "429" in events[1][1]["error"] and result.attempts == 2 and len(ai.requests) == 2


def test_a_failing_model_falls_back_to_the_next(ai, render):
    ai.unknown_models = {"gone"}
    ai.faults = {2: 500, 3: 503}  # "flaky" fails both of its attempts
    events: list = []
    result = call(ai, render, models=("gone", "flaky", "good"), events=events, max_attempts=2)
    assert [r.model for r in ai.requests] == ["gone", "flaky", "flaky", "good"]
    assert result.model == "good" and result.attempts == 4
    assert names(events) == ["MODEL_ATTEMPT", "MODEL_FAILED", "FALLBACK", "MODEL_ATTEMPT", "MODEL_FAILED",
                             "MODEL_ATTEMPT", "MODEL_FAILED", "FALLBACK", "MODEL_ATTEMPT", "MODEL_SUCCESS"]
    assert events[2][1]["from_model"] == "gone" and "is not known at" in events[2][1]["reason"]
    assert events[7][1] == {**events[7][1], "from_model": "flaky", "to_model": "good"}
    assert "answered 503 for model 'flaky'" in events[7][1]["reason"]


def test_every_model_failing_names_each_failure(ai, render):
    ai.unknown_models = {"a", "b"}
    with pytest.raises(DescriptionError, match=r"none of the 2 models could describe the chart: model 'a' is not "
                                               r"known at .*; model 'b' is not known at"):
        call(ai, render, models=("a", "b"))


def test_a_rejected_key_stops_at_once_and_never_shows_the_key(ai, render, monkeypatch):
    secret = "sk-live-THIS-MUST-NOT-LEAK-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    events: list = []
    with pytest.raises(EndpointAuthError) as caught:
        call(ai, render, models=("vision", "other"), events=events)
    message = str(caught.value)
    assert "rejected the API key (401" in message and "set a valid OPENAI_API_KEY" in message
    assert secret not in message and secret not in json.dumps(events) and "[API key]" in message
    assert len(ai.requests) == 1  # no retry, no fallback: another model has the same key


def test_a_timeout_is_retried_then_reported_as_such(ai, render):
    ai.faults, ai.hang_seconds = {1: "hang", 2: "hang"}, 4
    events: list = []
    started = time.monotonic()
    with pytest.raises(DescriptionError, match=r"^model 'vision' at 127\.0\.0\.1:\d+ did not answer within 0\.5 s$"):
        call(ai, render, events=events, timeout=0.5, max_attempts=2)
    assert time.monotonic() - started < 3.5 and len(ai.requests) == 2
    assert [f["kind"] for name, f in events if name == "MODEL_FAILED"] == ["timeout", "timeout"]


def test_refused_image_input_fails_clearly_or_falls_back_to_text_only(ai, render):
    ai.text_only_models = {"textual"}
    with pytest.raises(DescriptionError, match=r"model 'textual' at 127\.0\.0\.1:\d+ does not accept images \(400: "
                                               r".*\); set text_only_fallback: true"):
        call(ai, render, models=("textual",))
    events: list = []
    result = call(ai, render, models=("textual",), events=events, text_only=True)
    assert result.mode == "text_only" and result.snapshot["image"]["sent"] is False
    last = ai.requests[-1]
    assert last.image_urls == [] and "No image is attached" in last.text and "[41,96]" in last.text
    assert names(events) == ["MODEL_ATTEMPT", "MODEL_FAILED", "MODEL_ATTEMPT", "MODEL_SUCCESS"]
    assert events[1][1]["next"] == "text_only" and events[2][1]["mode"] == "text_only"


def test_no_endpoint_or_key_names_the_variable_and_an_unreachable_one_is_said(monkeypatch, render):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(EndpointNotConfigured, match=r"^AI descriptions are not configured: set OPENAI_BASE_URL .* and "
                                                    r"OPENAI_API_KEY .*\.$"):
        endpoint_from_env()
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    with pytest.raises(EndpointNotConfigured, match=r"^AI descriptions are not configured: set OPENAI_API_KEY to"):
        endpoint_from_env()
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    port = free_port()  # nothing listens there
    endpoint = endpoint_from_env(f"http://127.0.0.1:{port}/v1", timeout=2.0, max_attempts=2, backoff=0.05)
    request = DescriptionRequest(render, models=("a", "b"))
    with pytest.raises(DescriptionError, match=rf"^cannot reach the endpoint at 127\.0\.0\.1:{port}: .*refused"):
        describe(endpoint, request, render.read_png(), lambda *_: None)


def test_a_changed_or_missing_png_is_refused(render):
    path = Path(render.files["png"]["path"])
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(DescriptionError, match=r"chart\.png of charts/top_patent_countries \(partition .*, render "
                                               r"abcdef012345, run run-1\) has changed since it was rendered"):
        render.read_png()
    path.unlink()
    with pytest.raises(DescriptionError, match=r"chart\.png of .* is missing; re-render the chart"):
        render.read_png()


def test_a_cancel_abandons_the_call_in_flight(ai, render):
    ai.faults = {1: ("slow", 20)}
    started = time.monotonic()
    with pytest.raises(DescriptionCancelled, match="while the model was answering; nothing was stored"):
        call(ai, render, timeout=60, cancelled=lambda: time.monotonic() - started > 1)
    assert time.monotonic() - started < 3 and len(ai.requests) == 1


def test_a_200_that_is_no_chat_completion_fails_that_model_clearly(ai, render):
    sse = 'data: {"object": "chat.completion.chunk", "choices": []}\n\ndata: [DONE]\n\n'
    ai.faults = {1: ("status", 200, {"Content-Type": "text/html"}, "<html>Login</html>"),
                 2: ("status", 200, {}, "not json {"), 3: ("status", 200, {"Content-Type": "text/event-stream"}, sse),
                 4: ("status", 200, {}, {"error": "proxy says no"})}
    events: list = []
    assert call(ai, render, models=("a", "b", "c", "d", "good"), events=events).model == "good"
    errors = [f["error"] for name, f in events if name == "MODEL_FAILED"]
    assert [e.split(" answered ")[1].split(",")[0] for e in errors] == [
        "200 with text/html", "200 with application/json", "200 with text/event-stream", "200 with application/json"]
    assert all(e.endswith(f"not a chat completion; check OPENAI_BASE_URL ({ai.url})") for e in errors)


def test_unsendable_keys_and_urls_with_credentials_are_refused_before_sending(monkeypatch, render):
    for key, position, what in (("sk-abcd\nefgh", 8, "a line break"), ("sk-ñandú-123456", 4, "a non-ASCII character"),
                                ("sk-abc def", 7, "a space or tab")):
        monkeypatch.setenv("OPENAI_API_KEY", key)
        with pytest.raises(EndpointNotConfigured, match=rf"^OPENAI_API_KEY contains a character that cannot be sent "
                                                        rf"\(position {position}: {what}\)"):
            endpoint_from_env("http://127.0.0.1:1/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-good-key-123")
    for url in ("http://user:pw-SECRET-77@127.0.0.1:1/v1", "http://:pw-SECRET-77@127.0.0.1/v1"):
        with pytest.raises(EndpointNotConfigured, match="put the key in OPENAI_API_KEY, not in the URL") as caught:
            endpoint_from_env(url)
        assert "pw-SECRET-77" not in str(caught.value)
    with pytest.raises(EndpointNotConfigured, match="must be an http") as caught:
        endpoint_from_env("ftp://u:pw-SECRET-77@host/v1")
    assert "pw-SECRET-77" not in str(caught.value)
    endpoint = endpoint_from_env("http://127.0.0.1:1/v1")
    escaped = "Illegal header value b'Bearer sk-good-key-123' and \"sk-good-key-123\""
    assert "sk-good" not in endpoint.redact(escaped)


def test_the_key_is_removed_from_the_answer_and_a_runaway_answer_is_capped(ai, render):
    from intelli_assets.description_files import description_markdown

    ai.reply = lambda request: f"Your key is {request.headers['authorization']}. China lidera."
    assert call(ai, render).text == "Your key is Bearer [API key]. China lidera."
    ai.reply = lambda request: "China lidera con 96 publicaciones. " * 100_000
    events: list = []
    result = call(ai, render, events=events)
    assert result.truncated and result.original_chars == len(ai.reply(None).strip())
    assert 3000 < len(result.text) <= 4800 + 4 and result.text.endswith("publicaciones. […]")  # 4 × 120 words
    assert events[-1][1]["truncated"] is True and events[-1][1]["original_chars"] == result.original_chars
    request = DescriptionRequest(render, models=("vision",))
    endpoint = endpoint_from_env(ai.url)
    markdown = description_markdown(result, request, endpoint, "run-2", dt.datetime.now(dt.UTC))
    assert f"truncated: true\noriginal_chars: {result.original_chars}" in markdown


def test_a_far_future_retry_after_is_said_in_days_and_falls_back(ai, render):
    body = error_body("rate limited", "requests")
    ai.faults = {1: ("status", 429, {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}, body)}
    events: list = []
    assert call(ai, render, models=("a", "b"), events=events).model == "b"
    error = events[1][1]["error"]
    assert "e+" not in error and error.endswith(" days, more than max_wait_seconds (60 s)") and "wait 2" in error


# --- intelli describe on a real render, then the UI path -----------------------------------------

@pytest.fixture(scope="module")
def home(tmp_path_factory, sample_workbook):
    home = prepare_home(tmp_path_factory.mktemp("describe") / "home")
    out = intelli(home, "run", str(sample_workbook), "--charts", CHART, "--json")
    return home, json.loads(out.stdout)["partition"]


def intelli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "intelli"), *args], capture_output=True, text=True,
                          timeout=300, check=True, env={**os.environ, "DAGSTER_HOME": str(home), **env})


@pytest.fixture
def cli(home, monkeypatch, capsys):
    """`intelli ARGS` in this process against the module's instance: (exit code, stdout, stderr)."""
    monkeypatch.setenv("DAGSTER_HOME", str(home[0]))
    monkeypatch.delenv("INTELLI_ARTIFACTS_DIR", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err
    return run


def description_records(home: Path) -> list:
    """Materializations of descriptions/<CHART>, newest first ($DAGSTER_HOME must be `home`)."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.fetch_materializations(dg.AssetKey(["descriptions", CHART]), limit=50).records)


def test_descriptions_are_opt_in_assets_downstream_of_their_chart():
    from intelli_assets.definitions import defs
    from intelli_assets.defs.jobs import MAIN_JOB_NAME

    main_job = defs.resolve_job_def(MAIN_JOB_NAME).asset_layer.selected_asset_keys
    for key in CHARTS:
        asset = defs.resolve_assets_def(dg.AssetKey(["descriptions", key]))
        assert asset.op.pool == "ai" and asset.group_names_by_key[asset.key] == "descriptions"
        assert asset.asset_deps[asset.key] == {dg.AssetKey(["charts", key])}
        assert asset.partitions_def.name == "datasets" and asset.op.description
        assert asset.key not in main_job and "openai" in asset.required_resource_keys


def test_intelli_describe_stores_the_description_beside_its_render_and_keeps_history(home, cli, ai, monkeypatch):
    partition = home[1]
    monkeypatch.setenv("OPENAI_BASE_URL", ai.url)
    code, out, err = cli("describe", partition, "--chart", CHART, "--context", "focus on Ecuador", "--language", "en",
                         "--model", "vision", "--json")
    assert code == 0, err
    first = json.loads(out)
    folder = Path(first["render"]["folder"])
    png = (folder / "chart.png").read_bytes()
    (request,) = ai.requests
    assert request.image_urls == ["data:image/png;base64," + base64.b64encode(png).decode()]
    assert '"total_publications":267' in request.text and "focus on Ecuador" in request.text
    assert "in English" in request.text
    assert (first["status"], first["model"], first["mode"], first["language"]) == ("success", "vision", "image", "en")
    assert first["text"].startswith("Descripción de prueba por vision") and first["usage"]["total_tokens"] == 1290
    assert first["render"]["params_hash"] == folder.name and first["render"]["png_sha256"] == \
        hashlib.sha256(png).hexdigest()
    assert Path(first["description_path"]) == folder / "description.md"
    assert 'user_context: "focus on Ecuador"' in (folder / "description.md").read_text()

    code, out, err = cli("describe", partition, "--chart", CHART, "--context", "now the US", "--model", "vision")
    assert code == 0 and out.startswith("Descripción de prueba por vision") and "MODEL_SUCCESS {" in err
    assert f"saved to {folder / 'description.md'}" in out
    records = description_records(home[0])
    assert records[1].run_id == first["run_id"]
    second = {k: v.value for k, v in records[0].asset_materialization.metadata.items()}
    assert second["render"] == first["render"] and second["history_path"] != first["history_path"]
    assert Path(first["history_path"]).read_text().count("focus on Ecuador") == 1  # the first one is kept
    assert "now the US" in (folder / "description.md").read_text()  # description.md is the newest
    assert second["chart_run_id"] == first["render"]["chart_run_id"] and second["render_params_hash"] == folder.name
    assert second["prompt_snapshot"]["user_context"] == "now the US" and second["mode"] == "image"
    assert [e["event"] for e in second["events"]] == ["MODEL_ATTEMPT", "MODEL_SUCCESS"]
    assert second["provider_host"] == ai.url.split("/")[2] and second["base_url"] == ai.url
    assert (second["prompt_tokens"], second["latency_ms"] > 0) == (PROMPT_TOKENS, True)
    assert ai.api_key not in json.dumps(second, default=str)
    with dg.DagsterInstance.from_config(str(home[0])) as instance:  # the run log has the events as lines
        lines = [r.user_message for r in instance.all_logs(records[0].run_id)]
    assert any(line.startswith("MODEL_ATTEMPT {") for line in lines) and any(
        line.startswith("MODEL_SUCCESS {") for line in lines)


def test_describing_a_new_render_makes_a_new_description_and_keeps_the_old(home, cli, ai, monkeypatch,
                                                                          sample_workbook):
    monkeypatch.setenv("OPENAI_BASE_URL", ai.url)
    code, out, _ = cli("describe", home[1], "--chart", CHART, "--model", "vision", "--json")
    old = Path(json.loads(out)["description_path"])
    old_text = old.read_text()
    rerun = intelli(home[0], "run", str(sample_workbook), "--charts", CHART, "--set", "top_n=5", "--json")
    assert json.loads(rerun.stdout)["partition"] == home[1]
    code, out, _ = cli("describe", home[1], "--chart", CHART, "--model", "vision", "--json")
    new = json.loads(out)
    assert code == 0 and Path(new["description_path"]).parent != old.parent
    assert json.loads((Path(new["render"]["folder"]) / "settings.json").read_text())["params"] == {"top_n": 5}
    assert '"top_n":5' in ai.requests[-1].text and old.read_text() == old_text


def test_intelli_describe_exit_codes_and_messages(home, cli, monkeypatch):
    partition = home[1]
    code, _, err = cli("describe", "no-such-dataset", "--chart", CHART)
    assert code == 2 and "no dataset partition 'no-such-dataset'" in err
    code, _, err = cli("describe", partition, "--chart", "pie")
    assert code == 2 and "unknown chart 'pie'" in err
    code, _, err = cli("describe", partition, "--chart", CHART, "--max-words", "5")
    assert code == 2 and "--max-words must be between 20 and 1000, got 5" in err
    code, _, err = cli("describe", partition, "--chart", "cpc_treemap")
    assert code == 2 and f"charts/cpc_treemap has never been rendered for partition {partition}" in err
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    code, out, err = cli("describe", partition, "--chart", CHART, "--json")
    assert code == 2 and json.loads(out)["status"] == "invalid" and "set OPENAI_BASE_URL" in err
    secret = "sk-live-CLI-SECRET-9876543210"
    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        monkeypatch.setenv("OPENAI_API_KEY", secret)
        code, out, err = cli("describe", partition, "--chart", CHART, "--json")
    report = json.loads(out)
    assert code == 1 and report["status"] == "failed" and "rejected the API key (401" in report["error"]
    assert secret not in out + err and len(fake.requests) == 1
    with dg.DagsterInstance.from_config(str(home[0])) as instance:
        logged = repr(instance.all_logs(report["run_id"]))
    assert "MODEL_FAILED" in logged and secret not in logged
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-\nCLI-SECRET")
    code, _, err = cli("describe", partition, "--chart", CHART)
    assert code == 2 and "position 9: a line break" in err and "CLI-SECRET" not in err


def test_the_asset_itself_fails_fast_with_one_sentence(home, monkeypatch):
    """The UI path has no CLI checks in front: the asset says what is wrong before any call."""
    from intelli_assets.definitions import defs

    monkeypatch.setenv("DAGSTER_HOME", str(home[0]))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-ASSET-SECRET-123456")
    job = defs.resolve_implicit_global_asset_job_def()

    def failure(chart: str) -> str:
        with dg.DagsterInstance.from_config(str(home[0])) as instance:
            result = job.execute_in_process(instance=instance, partition_key=home[1], raise_on_error=False,
                                            asset_selection=[dg.AssetKey(["descriptions", chart])])
            assert not result.success
            return step_failures(instance, result.run_id)[f"descriptions__{chart}"]

    assert failure(CHART) == ("AI descriptions are not configured: set OPENAI_BASE_URL to an OpenAI-compatible "
                              "endpoint (e.g. https://api.openai.com/v1, or http://127.0.0.1:11434/v1 for Ollama).")
    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        assert failure("cpc_treemap").startswith(f"charts/cpc_treemap has not been rendered for partition {home[1]}")
    assert fake.requests == []


def test_a_description_materialized_from_the_ui(home, monkeypatch):
    partition = home[1]
    monkeypatch.setenv("DAGSTER_HOME", str(home[0]))  # dagster.yaml reads it, here to read the results
    with FakeOpenAI() as fake, dagster_dev(home[0], OPENAI_BASE_URL=fake.url, OPENAI_API_KEY=fake.api_key) as url:
        nodes = graphql(url, "{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }")["assetNodes"]
        node = next(n for n in nodes if n["assetKey"]["path"] == ["descriptions", CHART])
        assert node["groupName"] == "descriptions" and node["dependencyKeys"] == [{"path": ["charts", CHART]}]
        config = {"user_context": "focus on Ecuador", "language": "en", "model": "vision", "fallback_models": []}
        run_id = launch_assets_and_wait(url, partition, [["descriptions", CHART]],
                                        {f"descriptions__{CHART}": {"config": config}})
    record = description_records(home[0])[0]
    metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    folder = Path(metadata["render"]["folder"])
    (request,) = fake.requests
    assert record.run_id == run_id and request.model == "vision"
    assert request.image_urls == ["data:image/png;base64," + base64.b64encode((folder / "chart.png").read_bytes()).decode()]
    total = json.loads((folder / "chart_data.json").read_text())["totals"]["total_publications"]
    assert f'"total_publications":{total}' in request.text and "focus on Ecuador" in request.text
    assert "in English" in request.text
    assert metadata["text"] == (folder / "description.md").read_text().split("---\n\n", 1)[1].strip()
    assert metadata["model"] == "vision" and metadata["usage"]["prompt_tokens"] == PROMPT_TOKENS
    assert f'description_run_id: "{run_id}"' in (folder / "description.md").read_text()


def test_ctrl_c_while_the_model_answers_cancels_and_stores_nothing(home, monkeypatch):
    from intelli_assets.defs.descriptions.assets import latest_render

    monkeypatch.setenv("DAGSTER_HOME", str(home[0]))  # dagster.yaml reads it
    with dg.DagsterInstance.from_config(str(home[0])) as instance:
        folder = latest_render(instance, home[1], CHART).folder
    before = sorted((folder / "descriptions").iterdir()), (folder / "description.md").read_bytes()
    with FakeOpenAI(faults={1: ("slow", 20)}) as fake:
        env = {**os.environ, "DAGSTER_HOME": str(home[0]), "OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": fake.api_key}
        process = subprocess.Popen([str(Path(sys.executable).parent / "intelli"), "describe", home[1], "--chart", CHART,
                                    "--model", "vision", "--json"], env=env, stdout=subprocess.PIPE, text=True)
        wait_for(lambda: fake.requests, timeout=60, message="the model was never asked")
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 130 and time.monotonic() - sent < 8
    report = json.loads(out)
    assert report["status"] == "cancelled" and report["text"] == ""
    assert (sorted((folder / "descriptions").iterdir()), (folder / "description.md").read_bytes()) == before
    with dg.DagsterInstance.from_config(str(home[0])) as instance:
        assert instance.get_run_by_id(report["run_id"]).status == dg.DagsterRunStatus.CANCELED


def test_a_chart_whose_last_render_failed_says_why(home, cli, sample_workbook):
    failed = subprocess.run([str(Path(sys.executable).parent / "intelli"), "run", str(sample_workbook), "--charts",
                             "cpc_treemap", "--json"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "DAGSTER_HOME": str(home[0]), "BROWSER_PATH": "/bin/false"})
    assert json.loads(failed.stdout)["charts"]["cpc_treemap"]["status"] == "failed"
    code, _, err = cli("describe", home[1], "--chart", "cpc_treemap")
    assert code == 2 and "charts/cpc_treemap's last render failed (run " in err and "rendering failed: " in err
    assert "never been rendered" not in err
