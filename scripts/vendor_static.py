#!/usr/bin/env python
"""Fetch, pin and check the front-end libraries calsync serves from static/vendor/ (no CDN at run time).

static/vendor/VENDORED.json is the manifest: for each npm package its name, exact version, licence, the
registry tarball and its npm integrity (sha512), and every file taken from it with its sha256. The files are
committed, so a checkout needs no network; this script only refreshes or checks them.

    python scripts/vendor_static.py --check            # the files on disk are exactly the pinned ones
    python scripts/vendor_static.py                    # (re)fetch every pinned package, verify, write
    python scripts/vendor_static.py add lucide-static@0.460.0 icons/lock.svg=lucide/lock.svg LICENSE=lucide/LICENSE

`add` resolves the version's tarball and integrity from the npm registry and pins them; a later fetch refuses
a tarball whose sha512 differs. Only MIT, ISC, Apache-2.0 and BSD licensed packages are accepted.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "static" / "vendor"
MANIFEST = VENDOR / "VENDORED.json"
REGISTRY = "https://registry.npmjs.org"
LICENSES = {"MIT", "ISC", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause"}
MAX_TARBALL = 50 * 1024 * 1024


class VendorError(Exception):
    """A package that cannot be vendored as pinned (bad hash, missing file, licence, unsafe path)."""


def load() -> dict:
    if not MANIFEST.exists():
        return {"packages": []}
    return json.loads(MANIFEST.read_text())


def save(manifest: dict) -> None:
    manifest["packages"].sort(key=lambda p: p["name"])
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")


def _get(url: str) -> bytes:
    if not url.startswith(REGISTRY + "/"):
        raise VendorError(f"only the npm registry is used, not {url}")
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (https registry only, checked above)
        body = response.read(MAX_TARBALL + 1)
    if len(body) > MAX_TARBALL:
        raise VendorError(f"{url} is larger than {MAX_TARBALL} bytes")
    return body


def _integrity(body: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(body).digest()).decode()


def _target(relative: str) -> Path:
    """Where a file goes under static/vendor/, refusing anything that would land outside it."""
    path = (VENDOR / relative).resolve()
    if VENDOR.resolve() not in path.parents:
        raise VendorError(f"{relative!r} would be written outside static/vendor/")
    return path


def fetch(package: dict) -> None:
    """Download the pinned tarball, check its integrity, write the listed files and record their sha256."""
    body = _get(package["tarball"])
    if _integrity(body) != package["integrity"]:
        raise VendorError(f"{package['name']}@{package['version']}: the tarball's sha512 is not the pinned one")
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        for entry in package["files"]:
            member = tar.extractfile(f"package/{entry['from']}")
            if member is None:
                raise VendorError(f"{package['name']} has no file {entry['from']!r}")
            data = member.read()
            target = _target(entry["to"])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            entry["sha256"] = hashlib.sha256(data).hexdigest()
    print(f"fetched {package['name']}@{package['version']} ({len(package['files'])} files)")


def check(manifest: dict) -> list[str]:
    """Files that are missing or differ from their pinned sha256."""
    problems = []
    for package in manifest["packages"]:
        for entry in package["files"]:
            path = _target(entry["to"])
            if not path.exists():
                problems.append(f"missing: static/vendor/{entry['to']} ({package['name']})")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != entry.get("sha256"):
                problems.append(f"changed: static/vendor/{entry['to']} ({package['name']}@{package['version']})")
    return problems


def add(manifest: dict, spec: str, files: list[str]) -> dict:
    """Pin `name@version` with the files to take from it ("path/in/package=path/under/vendor")."""
    name, _, version = spec.rpartition("@")
    if not name or not version:
        raise VendorError("give the package as name@exact-version")
    meta = json.loads(_get(f"{REGISTRY}/{urllib.parse.quote(name, safe='@')}/{version}"))
    licence = meta.get("license")
    if licence not in LICENSES:
        raise VendorError(f"{name}@{version} is licensed {licence!r}, not one of {sorted(LICENSES)}")
    entries = []
    for pair in files:
        source, _, target = pair.partition("=")
        if not target:
            raise VendorError(f"{pair!r}: write files as path/in/package=path/under/vendor")
        _target(target)
        entries.append({"from": source, "to": target})
    package = {
        "name": name,
        "version": meta["version"],
        "license": licence,
        "tarball": meta["dist"]["tarball"],
        "integrity": meta["dist"]["integrity"],
        "files": entries,
    }
    manifest["packages"] = [p for p in manifest["packages"] if p["name"] != name] + [package]
    return package


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="verify the files on disk, no network")
    sub = parser.add_subparsers(dest="command")
    adding = sub.add_parser("add", help="pin a package and fetch its files")
    adding.add_argument("spec", help="name@exact-version")
    adding.add_argument("files", nargs="+", help="path/in/package=path/under/vendor")
    args = parser.parse_args(argv)
    manifest = load()
    try:
        if args.check:
            problems = check(manifest)
            print("\n".join(problems) or f"{sum(len(p['files']) for p in manifest['packages'])} vendored files match")
            return 1 if problems else 0
        if args.command == "add":
            fetch(add(manifest, args.spec, args.files))
        else:
            for package in manifest["packages"]:
                fetch(package)
    except VendorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    save(manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
