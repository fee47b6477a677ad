"""The deployment files: parsed and checked, since no Docker engine or systemd runs here."""
from __future__ import annotations

import configparser
import json
import os
import re
import runpy
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import requests

from tests.ops.yaml_lite import YamlError, load

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "web", "push", "worker", "scheduler", "sandbox")
#: the push process as every recipe runs it (app/web/push; the port the TLS proxy routes /push/ to)
PUSH_COMMAND = ["python", "push.py", "--host", "0.0.0.0", "--port", "5002"]
WEB_COMMAND = ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]


@pytest.fixture(scope="module")
def compose() -> dict:
    return load((ROOT / "docker-compose.yml").read_text())


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        assert sep and re.fullmatch(r"[a-z]+", name), f"not 'name: command': {line!r}"
        assert name not in entries, f"duplicate Procfile entry {name}"
        entries[name] = command.strip()
    return entries


# -- docker-compose.yml ---------------------------------------------------------------------------


def test_compose_has_every_service(compose):
    """Does the compose file define PostgreSQL, Redis, migrate, web, push, worker, scheduler and sandbox?"""
    assert set(compose["services"]) == {"postgres", "redis", *APP_SERVICES}
    assert compose["services"]["postgres"]["image"] == "postgres:15"
    assert compose["services"]["redis"]["image"] == "redis:7"


def test_compose_databases_are_healthchecked_and_persistent(compose):
    """Are PostgreSQL and Redis health-checked, PostgreSQL on a named volume, Redis never evicting jobs?"""
    postgres, redis = compose["services"]["postgres"], compose["services"]["redis"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert postgres["volumes"][0].endswith(":/var/lib/postgresql/data") and volume in compose["volumes"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "noeviction" in redis["command"]


def test_compose_start_order(compose):
    """Does migrate wait for a healthy database, and web/worker/scheduler for a finished migration?"""
    services = compose["services"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["migrate"]["command"] == ["flask", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "push", "worker", "scheduler"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }, name
    for name, service in services.items():
        for target in service.get("depends_on", {}):
            assert target in services, f"{name} depends on unknown service {target}"


def test_compose_app_services_share_the_image_and_env(compose):
    """Do all app services run the one image with .env and point at the compose PostgreSQL and Redis?"""
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["build"] == "." and service["image"] == "pokerpay:latest", name
        assert service["env_file"] == ".env", name
        environment = service["environment"]
        assert "@postgres:5432/" in environment["DATABASE_URL"], name
        assert environment["REDIS_URL"].startswith("redis://redis:6379/"), name
        assert environment["PROMETHEUS_MULTIPROC_DIR"], name


def test_compose_commands(compose):
    """Are the commands the Procfile's, the worker scalable and only the web process published?"""
    services = compose["services"]
    assert services["web"]["command"] == WEB_COMMAND
    assert services["worker"]["command"] == ["python", "worker.py"]
    assert services["scheduler"]["command"] == ["python", "worker.py", "cron"]
    assert services["push"]["command"] == PUSH_COMMAND
    assert "/push/health" in " ".join(services["push"]["healthcheck"]["test"])
    for key in ("container_name", "ports"):
        assert key not in services["worker"], f"worker with {key} cannot be scaled"
    assert services["web"]["ports"] == ["8000:8000"]
    # The image's HEALTHCHECK probes the web server; the other app containers have none.
    for name in ("migrate", "worker", "scheduler", "sandbox"):
        assert services[name]["healthcheck"] == {"disable": True}, name
    assert "healthcheck" not in services["web"]


def test_compose_sandbox_profile(compose):
    """Is the sandbox only in the sandbox profile, and does its command compile against the real server?"""
    import inspect

    from sandbox.server import serve

    for name, service in compose["services"].items():
        assert ("profiles" in service) == (name == "sandbox"), name
    sandbox = compose["services"]["sandbox"]
    assert sandbox["profiles"] == ["sandbox"]
    assert sandbox["command"][:2] == ["python", "-c"]
    compile(sandbox["command"][2], "<sandbox command>", "exec")
    assert "host" in inspect.signature(serve).parameters
    assert sorted(sandbox["ports"]) == ["5101:5101", "5102:5102"]


def test_compose_variables_are_well_formed():
    """Is every ${...} a valid compose interpolation, with required secrets marked ':?'?"""
    text = (ROOT / "docker-compose.yml").read_text()
    references = re.findall(r"(?<!\$)\$\{([^}]*)\}", text)
    assert references
    for reference in references:
        assert re.fullmatch(r"[A-Z_][A-Z0-9_]*(?::?[-?][^}]*)?", reference), reference
    assert "${POSTGRES_PASSWORD:?" in text


def test_yaml_reader_is_strict():
    """Does the test's YAML reader refuse what it does not understand (so it cannot misread)?"""
    with pytest.raises(YamlError):
        load("a: 1\na: 2\n")
    with pytest.raises(YamlError):
        load("a:\n  - b: 1\n")
    with pytest.raises(YamlError):
        load("a: {b: 1}\n")
    with pytest.raises(YamlError):
        load("a:\n    b: 1\n  c: 2\n")
    assert load("x: &base\n  k: v\ny:\n  <<: *base\n  k: w  # comment\n") == {
        "x": {"k": "v"}, "y": {"k": "w"}}


def test_yaml_reader_agrees_with_pyyaml_when_available():
    """Where a system PyYAML exists, does it read docker-compose.yml exactly as the test reader does?"""
    python = shutil.which("python3")
    script = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"
    if python is None:
        pytest.skip("no system python3")
    result = subprocess.run([python, "-c", script, str(ROOT / "docker-compose.yml")],
                            capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "")})
    if result.returncode != 0:
        pytest.skip("no PyYAML outside the venv to compare with")
    assert json.loads(result.stdout) == load((ROOT / "docker-compose.yml").read_text())


# -- Procfile -------------------------------------------------------------------------------------


def test_procfile_processes_exist():
    """Do the Procfile's release, web, push, worker and scheduler commands name things that exist?"""
    import ast

    from flask_migrate.cli import db as db_group

    import worker

    entries = procfile()
    assert set(entries) == {"release", "web", "push", "worker", "scheduler"}
    assert shlex.split(entries["release"]) == ["flask", "--app", "wsgi", "db", "upgrade"]
    assert "upgrade" in db_group.commands
    assert shlex.split(entries["web"]) == WEB_COMMAND
    assert (ROOT / "gunicorn.conf.py").is_file()
    wsgi = ast.parse((ROOT / "wsgi.py").read_text())
    assert any(isinstance(node, ast.Assign) and node.targets[0].id == "app" for node in wsgi.body), "wsgi:app"
    assert shlex.split(entries["worker"]) == ["python", "worker.py"]
    assert shlex.split(entries["scheduler"]) == ["python", "worker.py", "cron"]
    assert callable(worker.run_worker) and callable(worker.run_cron)
    push_entry = shlex.split(entries["push"])
    assert push_entry[:4] == ["python", "push.py", "--host", "0.0.0.0"] and push_entry[4] == "--port"
    push = ast.parse((ROOT / "push.py").read_text())
    assert any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in push.body), "push.py main()"


# -- gunicorn.conf.py -----------------------------------------------------------------------------


def gunicorn_settings(monkeypatch, **env) -> dict:
    for name in ("WEB_CONCURRENCY", "LOG_FORMAT", "POKERPAY_CONFIG", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    namespace = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return {k: v for k, v in namespace.items()
            if not k.startswith("_") and not isinstance(v, types.ModuleType) and k != "annotations"}


def test_gunicorn_settings_are_known_and_valid(monkeypatch):
    """Is every name in gunicorn.conf.py a gunicorn setting that gunicorn accepts?"""
    from gunicorn.config import Config

    config = Config()
    for name, value in gunicorn_settings(monkeypatch, LOG_FORMAT="json").items():
        assert name in config.settings, f"{name} is not a gunicorn setting"
        config.set(name, value)
    assert config.worker_class_str == "gthread" and config.threads >= 2
    assert config.preload_app is False
    assert 0 < config.keepalive < config.timeout and config.graceful_timeout >= 10
    assert config.max_requests > 0 and 0 < config.max_requests_jitter < config.max_requests
    assert "{x-request-id}o" in config.access_log_format
    assert config.logconfig_dict["formatters"]["pokerpay"]["()"] == "app.observability.logs.JsonFormatter"


def test_gunicorn_workers_follow_web_concurrency(monkeypatch):
    """Are the workers WEB_CONCURRENCY when set, else 2 × cores + 1?"""
    import multiprocessing

    assert gunicorn_settings(monkeypatch)["workers"] == multiprocessing.cpu_count() * 2 + 1
    assert gunicorn_settings(monkeypatch, WEB_CONCURRENCY="3")["workers"] == 3
    assert "logconfig_dict" not in gunicorn_settings(monkeypatch)  # text logs in development


def test_post_fork_gives_a_preloaded_worker_its_own_pool(app, monkeypatch):
    """If the app was preloaded, does post_fork replace the database pool inherited from the master?"""
    from app.extensions import db

    hooks = gunicorn_settings(monkeypatch)
    with app.app_context():
        inherited = db.engine.pool
    server = types.SimpleNamespace(app=types.SimpleNamespace(callable=app))
    hooks["post_fork"](server, types.SimpleNamespace(pid=os.getpid()))
    with app.app_context():
        assert db.engine.pool is not inherited
    hooks["post_fork"](types.SimpleNamespace(app=types.SimpleNamespace()), None)  # not preloaded: no-op


def test_metrics_directory_is_reset_and_dead_workers_marked(monkeypatch, tmp_path):
    """Does the master empty PROMETHEUS_MULTIPROC_DIR at start, and child_exit accept a dead worker?"""
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "gauge_livesum_1.db").write_bytes(b"stale")
    hooks = gunicorn_settings(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(directory))
    hooks["on_starting"](None)
    assert directory.is_dir() and not any(directory.iterdir())
    hooks["child_exit"](None, types.SimpleNamespace(pid=4242))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_serves_with_this_config(tmp_path, redis_url):
    """Does gunicorn start with gunicorn.conf.py, log JSON with request ids, and sum metrics over workers?"""
    from app import create_app
    from config import TestingConfig

    assert "pokerpay_ops" in create_app(TestingConfig, SQLALCHEMY_DATABASE_URI="sqlite://",
                                        REDIS_URL=redis_url).extensions
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("POKERPAY_", "PROMETHEUS_", "METRICS_"))},
        "POKERPAY_CONFIG": "development", "LOG_FORMAT": "json", "WEB_CONCURRENCY": "2", "PORT": str(port),
        "GUNICORN_BIND": f"127.0.0.1:{port}", "DATABASE_URL": f"sqlite:///{tmp_path / 'gunicorn.db'}",
        "REDIS_URL": redis_url, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "SECRET_KEY": "gunicorn-test-secret",
        # A worker that does not finish on SIGINT (seen once in a few hundred full runs, after every response
        # was sent) is killed by the master after this; the master must still exit within the wait below.
        "GUNICORN_GRACEFUL_TIMEOUT": "5",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([str(gunicorn), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        # Generous: on a loaded 2-core machine importing the app in each worker can take many seconds.
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + "/healthz", timeout=30, headers={"X-Request-ID": "warm-up"})
                break
            except requests.ConnectionError:  # the master is not listening yet
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "gunicorn did not start:\n" + log_path.read_text()
                time.sleep(0.1)
        ids = [f"probe-{n}" for n in range(6)]
        for request_id in ids:
            response = requests.get(base + "/healthz", headers={"X-Request-ID": request_id}, timeout=30)
            assert response.status_code == 200 and response.headers["X-Request-ID"] == request_id
        body = requests.get(base + "/metrics", timeout=30).text
    finally:
        process.send_signal(signal.SIGINT)  # quick shutdown; a graceful one only adds time here
        process.wait(timeout=20)
    # 1 warm-up + 6 probes, whichever of the two workers answered each.
    count = re.search(r'pokerpay_http_request_duration_seconds_count\{endpoint="main.healthz",'
                      r'method="GET",status="200"\} (\S+)', body)
    assert count and float(count.group(1)) == 7, body
    access = [json.loads(line) for line in log_path.read_text().splitlines()
              if line.startswith("{") and '"gunicorn.access"' in line]
    assert {entry.get("request_id") for entry in access} >= set(ids)
    assert all(entry["status"] == "200" for entry in access if entry.get("path") == "/healthz")


# -- systemd units --------------------------------------------------------------------------------


UNITS = {
    "pokerpay-web.service": WEB_COMMAND,
    "pokerpay-worker@.service": ["python", "worker.py"],
    "pokerpay-scheduler.service": ["python", "worker.py", "cron"],
    "pokerpay-push.service": ["python", "push.py", "--host", "127.0.0.1", "--port", "5002"],
}


def read_unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, empty_lines_in_values=False)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((ROOT / "deploy" / "systemd" / name).read_text())
    return parser


@pytest.mark.parametrize("name", sorted(UNITS))
def test_systemd_units(name):
    """Does each unit run the Procfile's command as an unprivileged user, hardened, with an EnvironmentFile?"""
    unit = read_unit(name)
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    executable, *args = shlex.split(service["ExecStart"])
    assert executable.startswith("/") and [Path(executable).name, *args] == UNITS[name]
    assert service["User"] not in ("", "root", "0")
    assert service["EnvironmentFile"].startswith("/etc/pokerpay/")
    assert service["NoNewPrivileges"] == "true"
    assert service["ProtectSystem"] in ("strict", "full")
    assert service["PrivateTmp"] == "true"
    assert service["Restart"] in ("always", "on-failure")
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert unit["Unit"]["Description"]


def test_web_unit_reloads_gracefully():
    """Does `systemctl reload pokerpay-web` send gunicorn HUP, and stop wait out the graceful timeout?"""
    service = read_unit("pokerpay-web.service")["Service"]
    assert service["ExecReload"] == "/bin/kill -s HUP $MAINPID"
    assert service["Type"] == "notify"
    assert int(service["TimeoutStopSec"]) > 30  # gunicorn.conf.py graceful_timeout
    assert service["Environment"].startswith("PROMETHEUS_MULTIPROC_DIR=/run/pokerpay-web/")


# -- Dockerfile and .dockerignore -----------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile():
    """Is the image python:3.11-slim, built with pinned packages and npm assets, run as non-root?"""
    instructions = dockerfile_instructions()
    stages = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert stages[-1] == "python:3.11-slim"
    assert any(rest.startswith("node:") and rest.endswith(" AS assets") for rest in stages[:-1])
    final = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM"):]
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "npm ci" in runs and "pip install --requirement requirements.txt" in runs
    assert ("COPY", "--from=assets /build/vendor/ app/static/vendor/") in final
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    last_user = max(i for i, (k, _) in enumerate(final) if k == "USER")
    assert all(keyword != "RUN" for keyword, _ in final[last_user:]), "RUN after USER runs as root"
    assert not re.search(r"(curl|wget)[^|&;]*\|\s*(ba|z)?sh", runs), "piping a download into a shell"
    cmd = [rest for keyword, rest in final if keyword == "CMD"][-1]
    assert json.loads(cmd) == WEB_COMMAND


def test_dockerfile_healthcheck_probes_healthz():
    """Does the HEALTHCHECK run valid Python that requests /healthz as if through the TLS proxy?"""
    healthcheck = [rest for keyword, rest in dockerfile_instructions() if keyword == "HEALTHCHECK"]
    assert len(healthcheck) == 1
    options, _, command = healthcheck[0].partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "<healthcheck>", "exec")
    assert "/healthz" in argv[2] and "X-Forwarded-Proto" in argv[2]


def test_dockerignore_keeps_secrets_and_local_state_out():
    """Are .env, the virtualenv, node_modules, .git and the instance folder kept out of the build?"""
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".env", ".venv", "node_modules", ".git", "instance"} <= ignored


# -- the operations manual ------------------------------------------------------------------------


def test_operations_manual_documents_every_metric_and_setting():
    """Does docs/operations.md name every metric the code exports, every doctor check and new setting?"""
    from app.observability import doctor

    manual = (ROOT / "docs" / "operations.md").read_text()
    code = "\n".join(path.read_text() for path in (ROOT / "app" / "observability").glob("*.py"))
    metrics = set(re.findall(r'"(pokerpay_[a-z_]+)"', code)) - {"pokerpay_metrics", "pokerpay_ops"}
    assert metrics, "no metric names found"
    for metric in sorted(metrics):
        assert f"`{metric}`" in manual, f"{metric} is not documented"
    for check in doctor.CHECKS:
        assert f"`{check.__name__.removeprefix('check_')}`" in manual
    settings = set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', (ROOT / "gunicorn.conf.py").read_text()))
    settings |= {"METRICS_TOKEN", "METRICS_ALLOW_NETWORKS", "METRICS_LEDGER_VERIFY_INTERVAL"}
    for setting in sorted(settings - {"PORT", "LOG_FORMAT", "POKERPAY_CONFIG"}):
        assert f"`{setting}`" in manual, f"{setting} is not documented"
    for path in ("Procfile", "gunicorn.conf.py", "deploy/systemd/", "docker-compose.yml", "Dockerfile"):
        assert path in manual
