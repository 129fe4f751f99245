"""The deployment files (Dockerfile, deploy/helm/) agree with the code and with the one-machine
set-up, checked without Docker, Kubernetes or helm, none of which the build machines have: what
the image runs, what the Helm values set, and that Dagster accepts the instance they describe."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml
from dagster._core.instance.config import dagster_instance_config

from intelli_assets.artifacts import artifacts_root
from intelli_assets.defs.jobs import DEFAULT_MAX_RUNTIME, max_runtime
from intelli_assets.defs.runs.tags import BATCH_SIZE_TAG
from intelli_assets.inbox import inbox_folder

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "intelli_assets"
VALUES = yaml.safe_load((ROOT / "deploy" / "helm" / "values.yaml").read_text())
PVC = yaml.safe_load((ROOT / "deploy" / "helm" / "intelli-data-pvc.yaml").read_text())
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
WORKSPACE = yaml.safe_load((ROOT / "workspace.yaml").read_text())["load_from"][0]["python_module"]
INSTANCE = yaml.safe_load((PACKAGE / "dagster.yaml").read_text())
DEPLOYMENT = VALUES["dagster-user-deployments"]["deployments"][0]
RUN_LAUNCHER = VALUES["runLauncher"]["config"]["k8sRunLauncher"]


def readme_deployment_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Deployment: growing past one machine")
    return text[start:text.index("\n## ", start + 1)]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def docker_args(keyword: str) -> list[str]:
    return [arguments for instruction, arguments in dockerfile() if instruction == keyword]


def docker_env() -> dict[str, str]:
    env = {}
    for arguments in docker_args("ENV"):
        env.update(dict(re.findall(r"([A-Z_]+)=(\S+)", arguments)))
    return env


def grpc_target(args: list[str]) -> dict[str, str]:
    """The code location named by `dagster api grpc` arguments."""
    assert len(args) % 2 == 0, args
    flags = dict(zip(args[::2], args[1::2]))
    return {"module_name": flags["-m"], "attribute": flags["-a"], "location_name": flags["--location-name"]}


def pins() -> dict[str, str]:
    """Exact pins of the runtime dependencies: {name: version}."""
    return dict(dep.split("==") for dep in PYPROJECT["project"]["dependencies"] if "==" in dep)


def values_env() -> dict[str, str]:
    env = {item["name"]: item["value"] for item in DEPLOYMENT["env"]}
    run_env = {item["name"]: item["value"] for item in RUN_LAUNCHER["runK8sConfig"]["containerConfig"]["env"]}
    assert run_env == env  # run pods get exactly the code location's settings
    return env


def test_values_serve_the_code_location_that_workspace_yaml_loads():
    assert VALUES["dagster-user-deployments"]["enabled"] is True
    assert grpc_target(DEPLOYMENT["dagsterApiGrpcArgs"]) == {
        "module_name": "intelli_assets.definitions", "attribute": "defs", "location_name": "intelli_assets"}
    assert grpc_target(DEPLOYMENT["dagsterApiGrpcArgs"]) == WORKSPACE
    # the webserver's workspace reaches that server (its Service is named after the deployment)
    # under the location name workspace.yaml gives on one machine
    assert VALUES["dagsterWebserver"]["workspace"] == {"enabled": True, "servers": [
        {"host": DEPLOYMENT["name"], "port": DEPLOYMENT["port"], "name": WORKSPACE["location_name"]}]}
    assert PYPROJECT["tool"]["dagster"] == {"module_name": WORKSPACE["module_name"],
                                            "code_location_name": WORKSPACE["location_name"]}


def test_image_command_is_the_code_location_server():
    assert not docker_args("ENTRYPOINT")  # the chart's args would be appended to it
    (cmd,) = docker_args("CMD")
    command = json.loads(cmd)
    # what the chart runs for the deployment: dagster api grpc -h 0.0.0.0 -p <port> <dagsterApiGrpcArgs>
    assert command == ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", str(DEPLOYMENT["port"]),
                       *DEPLOYMENT["dagsterApiGrpcArgs"]]
    assert grpc_target(command[7:]) == WORKSPACE
    assert docker_args("EXPOSE") == [str(DEPLOYMENT["port"])] == ["3030"]


def test_image_installs_the_project_with_the_deploy_extra_on_debian_chromium():
    assert docker_args("FROM") == ["python:3.11-slim-bookworm"]
    runs = " ".join(docker_args("RUN"))
    assert re.search(r"apt-get install -y --no-install-recommends chromium fonts-liberation\b", runs)
    (extras,) = re.findall(r'pip install "\.\[([a-z,_-]+)\]"', runs)
    assert extras == "deploy"
    extra = PYPROJECT["project"]["optional-dependencies"]["deploy"]
    # dagster-k8s is released with dagster-postgres, in step with dagster itself
    assert extra == [f"dagster-k8s=={pins()['dagster-postgres']}"] == ["dagster-k8s==0.29.27"]
    assert pins()["dagster"] == "1.13.27"
    assert "compileall" in runs
    assert docker_args("USER") == ["10001:10001"]
    assert "--uid 10001" in runs and "--gid 10001" in runs


def test_readme_commands_name_this_release_and_chart():
    section = readme_deployment_section()
    version = PYPROJECT["project"]["version"]
    image = DEPLOYMENT["image"]
    assert f"docker build -t {image['repository']}:{image['tag']} ." in section
    assert image["tag"] == version == "0.1.0"
    assert "helm repo add dagster https://dagster-io.github.io/helm" in section
    assert (f"helm upgrade --install intelli dagster/dagster --version {pins()['dagster']} "
            "-f deploy/helm/values.yaml") in section
    # the webserver and daemon run the same build as the code location
    assert VALUES["dagsterWebserver"]["image"] == VALUES["dagsterDaemon"]["image"] == image


def test_every_variable_the_deployment_sets_is_read_by_the_code(monkeypatch):
    sources = "\n".join(path.read_text() for path in PACKAGE.rglob("*.py"))
    env = values_env()
    secret_keys = re.findall(r"--from-literal=([A-Z_]+)=", readme_deployment_section())
    assert secret_keys == ["LENS_API_TOKEN", "OPENAI_API_KEY"]
    image_env = {name for name in docker_env() if not name.startswith(("PYTHON", "PIP_"))}
    assert image_env == {"DAGSTER_HOME", "BROWSER_PATH", "INTELLI_ARTIFACTS_DIR", "INTELLI_INBOX"}
    names = set(env) | set(secret_keys) | image_env
    runtimes = {name for name in names if name.startswith("INTELLI_MAX_RUNTIME_")}
    assert runtimes == {f"INTELLI_MAX_RUNTIME_{kind.upper()}" for kind in DEFAULT_MAX_RUNTIME}
    quoted = set(re.findall(r"[\"']([A-Z][A-Z0-9_]+)[\"']", sources))  # names in string literals
    assert names - runtimes - quoted == set(), "set for the deployment but never read by intelli_assets"
    for name in sorted(runtimes):  # read as f"INTELLI_MAX_RUNTIME_{kind.upper()}"
        kind = name.removeprefix("INTELLI_MAX_RUNTIME_").lower()
        monkeypatch.setenv(name, "4321")
        assert max_runtime(kind) == 4321  # this exact name is read...
        assert env[name].isdigit() and int(env[name]) > 0, f"{name}={env[name]!r}: max_runtime ignores it"
        monkeypatch.setenv(name, env[name])
        assert max_runtime(kind) == int(env[name])  # ...and the value set is taken
    monkeypatch.setenv("INTELLI_ARTIFACTS_DIR", env["INTELLI_ARTIFACTS_DIR"])
    monkeypatch.setenv("INTELLI_INBOX", env["INTELLI_INBOX"])
    assert artifacts_root() == Path("/data/artifacts")
    assert inbox_folder() == Path("/data/inbox")
    assert int(env["INTELLI_NETWORK_RETRIES"]) >= 0 and float(env["INTELLI_NETWORK_RETRY_DELAY"]) >= 0
    assert env["BROWSER_PATH"] == docker_env()["BROWSER_PATH"] == "/usr/bin/chromium"
    # the secrets reach the code location and every run pod from the Secret, never from values.yaml
    assert DEPLOYMENT["envSecrets"] == RUN_LAUNCHER["envSecrets"] == [{"name": "intelli-secrets"}]
    assert "kubectl create secret generic intelli-secrets" in readme_deployment_section()
    assert not set(secret_keys) & set(env)


def test_the_shared_volume_holds_artifacts_and_inbox_in_every_pod():
    claim = PVC["metadata"]["name"]
    assert PVC["kind"] == "PersistentVolumeClaim" and PVC["spec"]["accessModes"] == ["ReadWriteMany"]
    env = values_env()
    pods = {"code location": DEPLOYMENT, "run pods": RUN_LAUNCHER,
            "webserver": VALUES["dagsterWebserver"], "daemon": VALUES["dagsterDaemon"]}
    for pod, spec in pods.items():
        (volume,) = [v for v in spec["volumes"] if v.get("persistentVolumeClaim", {}).get("claimName") == claim]
        (mount,) = [m for m in spec["volumeMounts"] if m["name"] == volume["name"]]
        assert mount["mountPath"] == "/data", pod
        assert not mount.get("readOnly"), pod
    for name in ("INTELLI_ARTIFACTS_DIR", "INTELLI_INBOX"):
        assert env[name] == docker_env()[name]
        assert Path(env[name]).is_relative_to("/data"), name
    # the pods run as the image's user, and a fresh volume is made writable for its group
    security = DEPLOYMENT["podSecurityContext"]
    assert security == {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001}
    assert (RUN_LAUNCHER["runK8sConfig"]["podSpecConfig"]["securityContext"] == security
            == VALUES["dagsterWebserver"]["podSecurityContext"] == VALUES["dagsterDaemon"]["podSecurityContext"])


def test_webserver_stays_inside_the_cluster_and_postgres_is_external():
    webserver = VALUES["dagsterWebserver"]
    assert webserver["service"]["type"] == "ClusterIP"
    assert VALUES["ingress"]["enabled"] is False
    assert webserver["service"]["port"] == 3000  # above 1024: the non-root user binds it
    for probe in ("readinessProbe", "livenessProbe"):
        assert webserver[probe]["httpGet"] == {"path": "/server_info", "port": "http"}
    postgres = VALUES["postgresql"]
    assert postgres["enabled"] is False and postgres["postgresqlHost"]
    assert "postgresqlPassword" not in postgres
    assert VALUES["generatePostgresqlPasswordSecret"] is False
    assert VALUES["global"]["postgresqlSecretName"] == "dagster-postgresql-secret"
    assert "dagster-postgresql-secret --from-literal=postgresql-password=" in readme_deployment_section()
    one_machine = yaml.safe_load((ROOT / "deploy" / "postgres" / "dagster.yaml").read_text())
    assert postgres["postgresqlScheme"] == one_machine["storage"]["postgres"]["postgres_db"]["scheme"]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def chart_instance_settings() -> dict:
    """The queue, pools and run monitoring parts of the dagster.yaml the chart writes from these
    values (helm/dagster/templates/configmap-instance.yaml and helpers/instance/*.tpl)."""
    queued = VALUES["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    coordinator = {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"}
    if queued.get("maxConcurrentRuns") is not None:
        coordinator["config"] = {"max_concurrent_runs": queued["maxConcurrentRuns"]}
    concurrency = VALUES["concurrency"]
    return {
        "run_coordinator": coordinator,
        "concurrency": {"pools": {"granularity": concurrency["pools"]["granularity"]},
                        "runs": {"max_concurrent_runs": concurrency["runs"]["maxConcurrentRuns"],
                                 "tag_concurrency_limits": concurrency["runs"]["tagConcurrencyLimits"]}},
        "run_monitoring": {snake(key): value for key, value in VALUES["dagsterDaemon"]["runMonitoring"].items()},
        "telemetry": {"enabled": VALUES["telemetry"]["enabled"]},
    }


def test_queue_pools_and_monitoring_are_the_one_machine_ones_and_dagster_accepts_them(tmp_path):
    daemon = VALUES["dagsterDaemon"]
    assert daemon["enabled"] and daemon["runCoordinator"]["enabled"]
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    settings = chart_instance_settings()
    batch_limit = [{"key": BATCH_SIZE_TAG, "limit": 2}]  # inbox batch runs at work at once
    assert settings["concurrency"] == INSTANCE["concurrency"] == {
        "runs": {"max_concurrent_runs": 4, "tag_concurrency_limits": batch_limit}, "pools": {"granularity": "run"}}
    monitoring = settings["run_monitoring"]
    for key in ("enabled", "cancel_timeout_seconds", "poll_interval_seconds", "free_slots_after_run_end_seconds",
                "max_runtime_seconds"):
        assert monitoring[key] == INSTANCE["run_monitoring"][key], key
    assert monitoring["max_resume_run_attempts"] == 0  # a dead run fails, as on one machine
    assert settings["telemetry"] == INSTANCE["telemetry"]
    # Dagster refuses run_coordinator.config.max_concurrent_runs beside a `concurrency` section:
    # validate the instance config these values describe as Dagster does when it opens one
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(settings))
    validated, _ = dagster_instance_config(str(tmp_path))
    assert validated["concurrency"] == {"pools": {"granularity": "run"},
                                        "runs": {"max_concurrent_runs": 4, "tag_concurrency_limits": batch_limit}}
    assert validated["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert "config" not in validated["run_coordinator"]
    assert validated["run_monitoring"]["max_runtime_seconds"] == 3600


def test_dockerignore_keeps_what_the_build_copies():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    copied = [word for arguments in docker_args("COPY") for word in arguments.split()[:-1]]
    assert copied == ["pyproject.toml", "setup.py", "README.md", "intelli_assets"]
    assert not ignored & set(copied)
    assert {".git", ".venv", ".dagster_home", "intelli_assets_tests"} <= ignored
