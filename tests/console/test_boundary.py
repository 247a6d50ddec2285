"""The console talks to paymock over HTTP through the package's client: it imports `paymock`'s public
names only, never a server module (paymock.app, paymock.domain, ...)."""

from __future__ import annotations

import ast
from pathlib import Path

import paymock

CONSOLE = Path(__file__).resolve().parents[2] / "console"


def test_the_console_imports_only_public_names() -> None:
    files = sorted(CONSOLE.rglob("*.py"))
    assert len(files) > 5
    found = []
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [(file.name, a.name) for a in node.names if a.name.split(".")[0] == "paymock"]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("paymock"):
                if node.module == "paymock":
                    found += [(file.name, a.name) for a in node.names if a.name not in paymock.__all__]
                elif node.module.split(".")[0] == "paymock":
                    found.append((file.name, node.module))
    assert found == [], "the console reaches past paymock's public surface"
