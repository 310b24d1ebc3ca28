#!/usr/bin/env python3
"""Mutation testing of one module against its fast tests, with mutmut 3.

    scripts/mutation.py sync/engine.py [accounts/tenancy.py ...]    (or: make mutation)

mutmut rewrites the code it mutates, so each module runs in its own copy of the tree
(var/mutation/<module>/, files tracked or not ignored by git) whose pyproject.toml gets
the module and its tests added to [tool.mutmut]. It prints killed and survived counts
per module; `cd var/mutation/<module> && mutmut show <name>` shows a survivor.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = Path(sys.executable).with_name("mutmut")


def tests_for(module: str) -> list[str]:
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["calsync"]["mutation"]
    if module not in table:
        sys.exit(f"{module}: no tests listed for it under [tool.calsync.mutation] in pyproject.toml")
    return table[module]


def copy_tree(module: str) -> Path:
    work = ROOT / "var" / "mutation" / module.replace("/", "_").removesuffix(".py")
    shutil.rmtree(work, ignore_errors=True)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = ROOT / name
        if source.is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / name)
    # [tool.mutmut] is the last table of pyproject.toml, so these lines join it.
    with (work / "pyproject.toml").open("a") as config:
        config.write(f"only_mutate = {json.dumps([module])}\n")
        config.write(f"pytest_add_cli_args_test_selection = {json.dumps(tests_for(module))}\n")
    return work


def mutate(module: str) -> dict[str, int]:
    work = copy_tree(module)
    env = {**os.environ, "PATH": f"{MUTMUT.parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([str(MUTMUT), "run"], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    subprocess.run([str(MUTMUT), "export-cicd-stats"], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    return json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())


def main(modules: list[str]) -> None:
    if not modules:
        sys.exit(__doc__)
    for module in modules:
        stats = mutate(module)
        others = {key: value for key, value in stats.items() if value and key not in {"killed", "survived", "total"}}
        share = 100 * stats["killed"] / stats["total"] if stats["total"] else 0.0
        print(
            f"{module}: {stats['killed']} killed, {stats['survived']} survived of {stats['total']}"
            f" ({share:.0f}% killed){''.join(f', {value} {key}' for key, value in others.items())}",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
