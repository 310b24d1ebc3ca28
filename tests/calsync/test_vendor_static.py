"""scripts/vendor_static.py: the vendored front-end files are exactly the pinned ones, and a tampered or missing
file, or a target outside static/vendor/, is caught (no network: the check reads the files on disk)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def vendor():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("vendor_static", ROOT / "scripts" / "vendor_static.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_the_committed_files_match_the_manifest(vendor) -> None:  # type: ignore[no-untyped-def]
    manifest = vendor.load()
    names = {p["name"] for p in manifest["packages"]}
    assert "fullcalendar" in names
    assert all(p["license"] in vendor.LICENSES and p["integrity"].startswith("sha512-") for p in manifest["packages"])
    assert vendor.check(manifest) == []


def test_a_changed_or_missing_file_is_reported(vendor, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(vendor, "VENDOR", tmp_path)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.js").write_text("tampered")
    files = [{"from": "a.js", "to": "lib/a.js", "sha256": "0" * 64}, {"from": "b.js", "to": "lib/b.js", "sha256": ""}]
    manifest = {"packages": [{"name": "lib", "version": "1.0.0", "files": files}]}
    problems = vendor.check(manifest)
    assert problems == ["changed: static/vendor/lib/a.js (lib@1.0.0)", "missing: static/vendor/lib/b.js (lib)"]


def test_a_target_outside_static_vendor_is_refused(vendor) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(vendor.VendorError, match="outside"):
        vendor._target("../../settings.py")


def test_the_manifest_is_valid_json_with_a_sha256_per_file() -> None:
    manifest = json.loads((ROOT / "static" / "vendor" / "VENDORED.json").read_text())
    assert all(len(f["sha256"]) == 64 for p in manifest["packages"] for f in p["files"])
