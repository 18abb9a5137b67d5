"""The project explains itself: its definitions live in docs/, and nothing points outside."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tracked() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / n for n in names if (ROOT / n).suffix in (".py", ".md", ".sql", ".toml")]


def test_nothing_points_to_material_outside_the_repository() -> None:
    outside = re.compile(r"shared/(domain|platform)\.md|\.\./shared")
    offenders = [
        str(p.relative_to(ROOT))
        for p in _tracked()
        if p.exists() and p.name != "test_docs.py" and outside.search(p.read_text())
    ]
    assert offenders == []


def test_every_relative_link_in_the_readme_and_docs_resolves() -> None:
    link = re.compile(r"\]\(([^)#:]+)(#[^)]*)?\)")
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target, _ in link.findall(page.read_text()):
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_methodology_defines_every_kpi_the_api_returns() -> None:
    from services.http.kpis import KpiValues

    text = (ROOT / "docs" / "methodology.md").read_text()
    missing = [
        name
        for name in KpiValues.model_fields
        if name.split("_kg_co2e")[0] not in text and name not in text
    ]
    allowed = {
        "purchases",
        "purchased_weight_kg",
        "purchases_with_weight",
        "ended_assets",
        "lifespan_known_assets",
        "taken_back_assets",
        "savings_longer_life_kg_co2e",
        "savings_reuse_after_take_back_kg_co2e",
        "savings_refurbished_purchase_kg_co2e",
    }
    assert [m for m in missing if m not in allowed] == []
