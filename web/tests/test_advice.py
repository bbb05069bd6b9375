"""The reasons and "what to do" advice the lock integrations store are shown in the reader's
language: every such sentence in locks/ is listed in web/advice.py (so it is in the
catalogue), and a page in German shows it in German."""

from __future__ import annotations

import ast
from pathlib import Path

from django.utils import translation

from web.advice import SENTENCES, advice

ROOT = Path(__file__).resolve().parents[2]
# Programmer errors and wire-format checks are not shown to managers.
NOT_SHOWN = (
    "locks/nuki/ble/",
    "locks/agent/",
    "locks/simulators/",
    "locks/integrations/nuki_web/payload.py",
    "locks/api.py",  # API errors are for developers, in English
)


def _text(node: ast.AST, names: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left, names), _text(node.right, names)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.Name):
        return names.get(node.id)
    return None


def stored_sentences() -> dict[str, str]:
    """Each constant sentence given as an error's reason (first argument of a *Error call) or
    as `fix=` / `reason=` in locks/, with where it is."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "locks").rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        if "/tests/" in where or "/migrations/" in where or where.startswith(NOT_SHOWN):
            continue
        tree = ast.parse(path.read_text())
        names = {
            n.targets[0].id: v
            for n in ast.walk(tree)
            if isinstance(n, ast.Assign)
            and len(n.targets) == 1
            and isinstance(n.targets[0], ast.Name)
            and (v := _text(n.value, {})) is not None
        }
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            nodes = [call.args[0]] if name.endswith("Error") and call.args else []
            nodes += [k.value for k in call.keywords if k.arg in ("fix", "reason")]
            for node in nodes:
                text = _text(node, names)
                if text and text[0].isupper():  # sentences, not programmer messages
                    found.setdefault(text, f"{where}:{call.lineno}")
    return found


def test_every_stored_sentence_is_listed_for_translation():
    found = stored_sentences()
    assert len(found) > 50  # the scan sees the drivers, the sync engine and the clients
    missing = {text: where for text, where in found.items() if text not in SENTENCES}
    assert missing == {}, "add these to web/advice.py, then make messages and translate"


def test_advice_in_german_alone_and_joined():
    with translation.override("de"):
        assert advice("The lock is offline.") == "Das Schloss ist offline."
        # A bridge's error is its reason and its fix in one line.
        joined = advice("The bridge could not reach the lock. Nothing to do: the portal retries.")
        assert joined == (
            "Die Bridge konnte das Schloss nicht erreichen. "
            "Nichts zu tun: das Portal versucht es erneut."
        )
        assert advice("Something else entirely.") == "Something else entirely."
    with translation.override("en"):
        assert advice("The lock is offline.") == "The lock is offline."
