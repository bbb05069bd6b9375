"""The project's HTTP clients are httpx2 (the maintained continuation of httpx), and Authlib's
OAuth client integration picks it up: no deprecation warning at start-up, old httpx not loaded.

respx (the httpx mocking library) patches httpx only, not httpx2, so the project does not use
it: tests talk to the real loopback servers (simulators, live server) or pass
`transport=httpx2.MockTransport(...)` where a client takes a transport.
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", "var", "node_modules", ".git", "staticfiles"}
OLD_IMPORT = re.compile(r"^\s*(import httpx\s*$|import httpx\s+as|from httpx\b)", re.MULTILINE)

# Start-up as the web and the worker do it, then every module that speaks HTTP.
IMPORT_EVERYTHING = """
import sys, warnings
warnings.simplefilter("error", DeprecationWarning)
import django
django.setup()
import locks.integrations.nuki_web.connection, locks.nuki.web.client
import locks.nuki.bridge.client, locks.agent.portal
import portal.netguard, portal.celery
import authlib.integrations.httpx_client._compat as compat
assert compat.httpx2.__name__ == "httpx2", compat.httpx2.__name__
assert "httpx" not in sys.modules, "old httpx imported"
print("clean")
"""


def _python_files() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("*.py")
        if not SKIP_DIRS.intersection(path.relative_to(ROOT).parts)
    ]


def test_no_module_imports_old_httpx() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in _python_files()
        if OLD_IMPORT.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_requirements_pin_httpx2_not_httpx() -> None:
    runtime = (ROOT / "requirements.txt").read_text()
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert re.search(r"^httpx2==\d", runtime, re.MULTILINE)
    assert not re.search(r"^(httpx|respx)==", runtime + dev, re.MULTILINE)


def test_start_up_imports_without_deprecation_warning() -> None:
    """A fresh interpreter (module caches and warning registries of this test run would hide
    a warning issued at first import) with DeprecationWarning made an error."""
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", IMPORT_EVERYTHING],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("clean")
    assert "Warning" not in result.stderr
