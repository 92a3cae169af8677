"""docker-compose.yml, the Dockerfile and .env.example agree and keep secrets out."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT
from tests.ops import compose

COMPOSE = ROOT / "docker-compose.yml"
SECRETS = {"SECRET_KEY": "s" * 50, "POSTGRES_PASSWORD": "pw", "REDIS_PASSWORD": "rpw"}
APP_SERVICES = [
    "migrate",
    "web",
    "worker-instrument",
    "worker-cpu",
    "worker-default",
    "worker-gpu",
    "beat",
]


@pytest.fixture(scope="module")
def services():
    return compose.load(COMPOSE, SECRETS)["services"]


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_start_without_a_secret(missing):
    env = {k: v for k, v in SECRETS.items() if k != missing}
    with pytest.raises(compose.MissingVariable) as caught:
        compose.load(COMPOSE, env)
    assert caught.value.name == missing and ".env" in caught.value.message


def test_empty_secret_is_refused_too():
    with pytest.raises(compose.MissingVariable, match="SECRET_KEY"):
        compose.load(COMPOSE, {**SECRETS, "SECRET_KEY": ""})


def test_interpolation_forms():
    env = {"SET": "x", "EMPTY": ""}
    assert compose.interpolate("$$HOME ${SET} $SET", env) == "$HOME x x"
    assert compose.interpolate("${EMPTY:-d} ${EMPTY-d} ${UNSET-d}", env) == "d  d"
    with pytest.raises(compose.MissingVariable, match="why"):
        compose.interpolate("${UNSET:?why}", env)
    assert compose.interpolate("${EMPTY?ok}", env) == ""


def test_every_service_the_issue_names_is_there(services):
    assert set(services) == {"postgres", "redis", *APP_SERVICES}


def test_app_services_run_production_with_the_secrets_from_the_environment(services):
    for name in APP_SERVICES:
        env = compose.environment_of(services[name])
        assert env["NANOSCOPE_MODE"] == "production", name
        assert env["SECRET_KEY"] == SECRETS["SECRET_KEY"], name
        assert env["DATABASE_URL"] == "postgres://nanoscope:pw@postgres:5432/nanoscope", name
        assert env["CELERY_BROKER_URL"] == "redis://:rpw@redis:6379/0", name
        assert env["NANOSCOPE_DATA_ROOT"] == "/data", name
        assert services[name]["volumes"] == ["data:/data"], name


def test_no_secret_is_written_in_the_repository():
    text = COMPOSE.read_text()
    example = (ROOT / ".env.example").read_text()
    for key in SECRETS:
        assert f"${{{key}:?set {key} in .env" in text
        assert re.search(rf"^{key}=$", example, re.M), key
    assert not re.search(r"(PASSWORD|SECRET_KEY)\w*: [^$\s]", text)
    assert "REDISCLI_AUTH: ${REDIS_PASSWORD:?" in text


def test_env_example_documents_every_variable():
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    assert compose.variables(COMPOSE) - {"POSTGRES_USER", "POSTGRES_DB"} <= documented
    assert {"POSTGRES_USER", "POSTGRES_DB"} <= documented


def test_named_volumes_for_database_redis_and_data(services):
    document = compose.load(COMPOSE, SECRETS)
    assert set(document["volumes"]) == {"pgdata", "redisdata", "data"}
    assert services["postgres"]["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    assert services["redis"]["volumes"] == ["redisdata:/data"]


def test_queues_pools_and_gpu_reservation(services):
    def args(name):
        return compose.command_of(services[name])

    instrument = args("worker-instrument")
    assert instrument[instrument.index("-Q") + 1] == "instrument"
    assert instrument[instrument.index("--pool") + 1] == "solo"
    assert instrument[instrument.index("--concurrency") + 1] == "1"
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert args("worker-gpu")[args("worker-gpu").index("--pool") + 1] == "solo"
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert "cupy" in gpu["build"]["args"]["EXTRA_PIP"]
    for name, queue in [("worker-cpu", "cpu"), ("worker-default", "default")]:
        assert args(name)[args(name).index("-Q") + 1] == queue
    beat = args("beat")
    assert beat[beat.index("--scheduler") + 1] == "django_celery_beat.schedulers:DatabaseScheduler"


def test_health_checks_and_start_order(services):
    for name in ["postgres", "redis", "web", *[s for s in APP_SERVICES if s.startswith("worker")]]:
        assert services[name]["healthcheck"]["test"], name
    for name in ["web", "beat", "worker-cpu", "worker-gpu"]:
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == "no"


def test_dockerfile_runs_unprivileged_and_collects_static():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "collectstatic" in dockerfile
    assert re.search(r"^USER nanoscope$", dockerfile, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", "var"} <= set(ignored)
