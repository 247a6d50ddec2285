"""Just enough of a Dockerfile and .dockerignore reader to rebuild the image without Docker.

No Docker engine runs where we test, so tests/sidecar/test_dockerfile.py replays the Dockerfile:
every RUN step as written (with `/bin/sh -c`, as Docker's shell form does), COPY steps from a context
filtered by .dockerignore, ENV/ARG/WORKDIR applied, then the CMD and HEALTHCHECK in exec form.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Instruction:
    keyword: str
    value: str
    line: int

    def exec_form(self) -> list[str]:
        """A JSON-array argument (CMD ["a", "b"]); shell form is not used by our Dockerfile."""
        text = self.value
        if self.keyword == "HEALTHCHECK":
            text = text[text.index("CMD") + 3 :]
        parsed = json.loads(text.strip())
        assert isinstance(parsed, list), f"line {self.line}: expected exec form, got {self.value!r}"
        return parsed


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def parse(path: Path) -> Dockerfile:
    logical: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continuation are dropped, as Docker does
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append((start, pending + stripped))
        pending = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, text in logical:
        keyword, _, value = text.partition(" ")
        keyword, value = keyword.upper(), value.strip()
        if keyword == "FROM":
            words = value.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(substitute(words[0], global_args), name))
        elif not stages:
            assert keyword == "ARG", f"line {number}: only ARG may come before the first FROM"
            key, _, default = value.partition("=")
            global_args[key] = default
        else:
            stages[-1].instructions.append(Instruction(keyword, value, number))
    return Dockerfile(global_args, stages)


_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def substitute(text: str, env: dict[str, str]) -> str:
    """Docker's ${VAR} / $VAR substitution in ENV, WORKDIR, COPY and FROM (not in RUN: the shell does that)."""
    return _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text)


def env_pairs(value: str) -> list[tuple[str, str]]:
    """ENV A=1 B="x y" (the key=value form; the legacy `ENV A 1` form is not used)."""
    pairs = []
    for word in shlex.split(value):
        key, sep, val = word.partition("=")
        assert sep, f"ENV {value!r}: use the KEY=VALUE form"
        pairs.append((key, val))
    return pairs


# .dockerignore ---------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def ignore_rules(path: Path) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        rules.append((negate, _pattern_regex(line.lstrip("!").strip("/"))))
    return rules


def ignored(rel: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories decides."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for negate, regex in rules:
        if any(regex.match(p) for p in prefixes):
            result = not negate
    return result


def context_files(root: Path, rules: list[tuple[bool, re.Pattern[str]]]) -> list[str]:
    """Files the build context would hold (relative paths).

    An ignored directory is not walked unless some `!` rule could re-include something below it.
    """
    reopeners = [regex.pattern for negate, regex in rules if negate]
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = [
            d
            for d in sorted(dirnames)
            if not ignored(prefix + d, rules) or any(p.startswith(re.escape(prefix + d + "/")) for p in reopeners)
        ]
        out.extend(prefix + f for f in sorted(filenames) if not ignored(prefix + f, rules))
    return sorted(out)
