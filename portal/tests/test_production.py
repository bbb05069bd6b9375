"""Production fails closed (issue 12, item 2): with LATCHKEY_PRODUCTION=true the web, the worker
and beat refuse to start with a missing, short or repository-placeholder SECRET_KEY or without
an encryption key of their own; `manage.py check --deploy` is silent; every page carries a
Content-Security-Policy without inline script; /healthz and bridge callbacks stay on plain http.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from portal import config

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GOOD_SECRET_KEY = secrets.token_urlsafe(50)
GOOD_ENCRYPTION_KEY = secrets.token_urlsafe(32)
SECRET_VARS = ("SECRET_KEY", "SECRET_KEY_FALLBACKS", "LATCHKEY_ENCRYPTION_KEY")


def production_env(**over: str | None) -> dict[str, str]:
    """This process's environment (its database, broker, cache), production on, no .env file,
    good keys unless `over` says otherwise (None removes a variable)."""
    env = {
        k: v for k, v in os.environ.items() if k not in SECRET_VARS and not k.startswith("SECURE_")
    }
    env.update(
        LATCHKEY_ENV_FILE=str(ROOT / "var" / "no-such.env"),
        LATCHKEY_PRODUCTION="true",
        DEBUG="false",
        SECRET_KEY=GOOD_SECRET_KEY,
        LATCHKEY_ENCRYPTION_KEY=GOOD_ENCRYPTION_KEY,
        PYTHONWARNINGS="ignore",
    )
    # Production also wants a shared cache; nothing here connects to it.
    env.setdefault("CACHE_URL", "redis://127.0.0.1:6379/1")
    for name, value in over.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def django_setup(env: dict[str, str], code: str = "") -> subprocess.CompletedProcess:
    return run([sys.executable, "-c", "import django; django.setup()\n" + code], env)


# --- Refusing to start ----------------------------------------------------------------------

# The three process types of docker-compose.yml and the Procfile, each started for real.
PROCESSES = {
    "web": [str(BIN / "gunicorn"), "portal.wsgi", "--bind", "127.0.0.1:0", "--workers", "1"],
    "worker": [str(BIN / "celery"), "-A", "portal", "worker", "--concurrency", "1"],
    "beat": [str(BIN / "celery"), "-A", "portal", "beat", "--schedule", os.devnull],
}


@pytest.mark.parametrize("process", sorted(PROCESSES))
@pytest.mark.parametrize(
    ("over", "variable"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"SECRET_KEY": "change-me-in-production"}, "SECRET_KEY"),
        ({"LATCHKEY_ENCRYPTION_KEY": None}, "LATCHKEY_ENCRYPTION_KEY"),
    ],
    ids=["no-secret-key", "placeholder-secret-key", "no-encryption-key"],
)
def test_web_worker_and_beat_refuse_to_start(process, over, variable):
    result = run(PROCESSES[process], production_env(**over), timeout=60)
    assert result.returncode != 0
    assert f"Environment variable {variable} " in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": secrets.token_urlsafe(40)[:49]}, "SECRET_KEY is shorter than 50"),
        ({"SECRET_KEY": "a" * 30 + "b" * 30}, "SECRET_KEY has fewer than 5 different"),
        ({"SECRET_KEY": "django-insecure-" + "x1y2z3" * 9}, "SECRET_KEY is a placeholder"),
        ({"SECRET_KEY_FALLBACKS": "change-me-in-production"}, "SECRET_KEY_FALLBACKS lists"),
        ({"LATCHKEY_ENCRYPTION_KEY": None}, "LATCHKEY_ENCRYPTION_KEY is not set"),
        ({"LATCHKEY_ENCRYPTION_KEY": "short-key"}, "shorter than 32"),
        ({"LATCHKEY_ENCRYPTION_KEY": GOOD_SECRET_KEY}, "repeats SECRET_KEY"),
        ({"LATCHKEY_ENCRYPTION_KEY": f"change-me,{GOOD_ENCRYPTION_KEY}"}, "placeholder"),
        ({"LATCHKEY_ENCRYPTION_KEY": f"{GOOD_ENCRYPTION_KEY},{GOOD_ENCRYPTION_KEY}"}, "twice"),
    ],
)
def test_weak_production_secrets_are_refused_naming_the_variable(over, message):
    env = production_env(**over)
    with pytest.raises(config.ConfigError, match=re.escape(message)):
        config.check_production_secrets(
            secret_key=env.get("SECRET_KEY", ""),
            secret_key_fallbacks=config._list(env.get("SECRET_KEY_FALLBACKS", "")),
            encryption_keys=config._list(env.get("LATCHKEY_ENCRYPTION_KEY", "")),
        )


@pytest.mark.parametrize("placeholder", sorted(config.PLACEHOLDER_SECRETS))
def test_every_listed_placeholder_is_refused_as_a_placeholder(placeholder):
    """Refused for what it is, not only for being short (the reason names it)."""
    for value in (placeholder, placeholder.upper(), f" {placeholder} "):
        with pytest.raises(config.ConfigError, match="SECRET_KEY is a placeholder"):
            config.check_production_secrets(
                secret_key=value, secret_key_fallbacks=[], encryption_keys=[GOOD_ENCRYPTION_KEY]
            )
        with pytest.raises(
            config.ConfigError,
            match="LATCHKEY_ENCRYPTION_KEY: the newest \\(first\\) key is a place",
        ):
            config.check_production_secrets(
                secret_key=GOOD_SECRET_KEY, secret_key_fallbacks=[], encryption_keys=[value]
            )


def test_a_placeholder_padded_to_length_is_still_refused():
    padded = "change-me-in-production-" + secrets.token_urlsafe(40)
    with pytest.raises(config.ConfigError, match="SECRET_KEY is a placeholder"):
        config.check_production_secrets(
            secret_key=padded, secret_key_fallbacks=[], encryption_keys=[GOOD_ENCRYPTION_KEY]
        )


def test_good_keys_start_and_the_ring_is_parsed():
    code = "from django.conf import settings; print(len(settings.LATCHKEY_ENCRYPTION_KEYS))"
    old = secrets.token_urlsafe(32)
    result = django_setup(
        production_env(LATCHKEY_ENCRYPTION_KEY=f"{GOOD_ENCRYPTION_KEY},{old}"), code
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    # Rotating away from a weak key: it may stay listed behind a strong one (it only decrypts
    # until rotate_secrets has moved everything), but never in front.
    weak = "change-me-in-production"
    behind = django_setup(production_env(LATCHKEY_ENCRYPTION_KEY=f"{GOOD_ENCRYPTION_KEY},{weak}"))
    assert behind.returncode == 0, behind.stderr
    in_front = django_setup(production_env(LATCHKEY_ENCRYPTION_KEY=f"{weak},{GOOD_ENCRYPTION_KEY}"))
    assert in_front.returncode != 0 and "LATCHKEY_ENCRYPTION_KEY" in in_front.stderr


def test_outside_production_the_demo_still_starts_without_keys():
    result = django_setup(
        production_env(LATCHKEY_PRODUCTION="false", SECRET_KEY=None, LATCHKEY_ENCRYPTION_KEY=None)
    )
    assert result.returncode == 0, result.stderr


# --- Placeholders: one list, checked against the repository ----------------------------------

# `SECRET_KEY=value`, `SECRET_KEY: value`, `${SECRET_KEY:-value}` in docs, env and compose files.
ASSIGNMENT = re.compile(
    r"(?:SECRET_KEY|SECRET_KEY_FALLBACKS|LATCHKEY_ENCRYPTION_KEY)"
    r"(?::-|\s*[=:]\s*)[\"']?(?!\$)([^\s\"'}(,]+)"
)


def repository_examples() -> set[str]:
    paths = [ROOT / ".env.example", ROOT / "docker-compose.yml", ROOT / "README.md"]
    paths += [ROOT / "DEVELOPERS.md", ROOT / "Makefile", ROOT / "Procfile", ROOT / "Dockerfile"]
    paths += sorted((ROOT / "docs").rglob("*.md")) + sorted((ROOT / ".ci").glob("*"))
    found = set()
    for path in paths:
        if path.is_file():
            found |= set(ASSIGNMENT.findall(path.read_text(errors="replace")))
    return {v for v in found if not v.startswith(("$", "<", "?")) and v not in {"...", "-"}}


def test_every_secret_shown_in_the_repository_is_a_known_placeholder():
    examples = repository_examples()
    assert config.DEV_SECRET_KEY in config.PLACEHOLDER_SECRETS
    unknown = {v for v in examples if not config.is_placeholder(v)}
    assert not unknown, f"add these to portal.config.PLACEHOLDER_SECRETS: {sorted(unknown)}"


def test_the_scan_finds_what_it_is_meant_to_find():
    text = "SECRET_KEY=abc\n  SECRET_KEY: ${SECRET_KEY:-change-me-in-production}\n"
    assert set(ASSIGNMENT.findall(text)) == {"abc", "change-me-in-production"}


def test_compose_requires_both_keys_and_env_example_says_how_to_make_them():
    compose = (ROOT / "docker-compose.yml").read_text()
    assert re.search(r"SECRET_KEY: \$\{SECRET_KEY:\?[^}]+\}", compose)
    assert re.search(r"LATCHKEY_ENCRYPTION_KEY: \$\{LATCHKEY_ENCRYPTION_KEY:\?[^}]+\}", compose)
    assert 'LATCHKEY_PRODUCTION: "true"' in compose
    example = (ROOT / ".env.example").read_text()
    assert config.GENERATE_SECRET_KEY in example
    assert config.GENERATE_ENCRYPTION_KEY in example
    # The documented commands make keys that pass.
    config.check_production_secrets(
        secret_key=run(["sh", "-c", config.GENERATE_SECRET_KEY], os.environ).stdout.strip(),
        secret_key_fallbacks=[],
        encryption_keys=[
            run(["sh", "-c", config.GENERATE_ENCRYPTION_KEY], os.environ).stdout.strip()
        ],
    )


# --- check --deploy, HTTPS ---------------------------------------------------------------------


def test_check_deploy_is_silent_in_production():
    result = run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        production_env(SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_production_settings_secure_https_and_read_the_proxy_header():
    code = (
        "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_PROXY_SSL_HEADER)"
    )
    on = django_setup(production_env(SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto"), code)
    assert on.stdout.split(None, 4) == [
        "True",
        "True",
        "True",
        "31536000",
        "('HTTP_X_FORWARDED_PROTO', 'https')\n",
    ]
    off = django_setup(production_env(LATCHKEY_PRODUCTION="false"), code)
    assert off.stdout.split() == ["False", "False", "False", "0", "None"]
    bad = django_setup(production_env(SECURE_PROXY_SSL_HEADER="X Forwarded"), code)
    assert bad.returncode != 0 and "SECURE_PROXY_SSL_HEADER" in bad.stderr


@pytest.mark.django_db
def test_ssl_redirect_spares_healthz_and_bridge_callbacks_and_trusts_the_proxy(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()
    login = client.get("/accounts/login/")
    assert login.status_code == 301
    assert login["Location"] == "https://testserver/accounts/login/"
    assert client.get("/healthz").status_code != 301  # the compose health check (plain http)
    assert client.post("/hooks/bridge/unknown/", {}).status_code != 301  # bridges: http only
    # Behind the TLS proxy: the request was https, so it is served.
    assert client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 200


# --- Content-Security-Policy -------------------------------------------------------------------


def script_src(policy: str) -> str:
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    return directives.get("script-src", directives.get("default-src", ""))


@pytest.mark.django_db
def test_every_page_carries_a_policy_without_inline_script(world):
    client = Client()
    anonymous = ["/accounts/login/", "/healthz", "/api/v1/ping/", "/stay/" + "x" * 43 + "/"]
    client.force_login(world.owner)
    signed_in = [f"/o/{world.org.slug}/", f"/o/{world.org.slug}/settings/"]
    for path in anonymous + signed_in:
        response = client.get(path)
        policy = response.get("Content-Security-Policy", "")
        assert script_src(policy) == "'self'", (path, policy)
        assert "frame-ancestors 'none'" in policy


TEMPLATES = ROOT / "templates"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)


def test_no_template_has_inline_script_or_event_handlers():
    offenders = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        if "emails" in path.parts:  # mail clients, not the browser: no policy, no script
            continue
        text = path.read_text()
        if INLINE_SCRIPT.search(text) or INLINE_HANDLER.search(text) or "<style" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_docs_load_their_scripts_from_our_own_files_under_the_policy(path):
    """Swagger UI and ReDoc come from /static/ (drf-spectacular-sidecar), never a CDN: the
    policy names no other origin and the page no outside URL (the browser test,
    portal/tests/test_api_docs_browser.py, shows them rendering offline)."""
    client = Client()
    page = client.get(path)
    assert page.status_code == 200
    policy = page["Content-Security-Policy"]
    assert script_src(policy) == "'self'"
    assert "https:" not in policy and "http:" not in policy
    body = page.content.decode()
    assert not INLINE_SCRIPT.search(body) and "<style" not in body
    assert "/static/drf_spectacular_sidecar/" in body
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", body), body
    if path == "/api/docs/":
        script = client.get("/api/docs/?script=")
        assert script.status_code == 200
        assert script["Content-Type"].startswith("application/javascript")


def test_the_image_never_carries_the_env_file():
    """docker compose reads .env (the production keys) on the host; `COPY . .` must skip it."""
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and "var" in ignored and ".venv" in ignored
