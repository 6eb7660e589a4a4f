"""scripts/screenshots.py makes the pictures the README shows (the page's own flow is
tested in tests/analysis/test_web_page.py; here the two plots, which need no browser)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "screenshots.py"


def test_the_readme_shows_each_picture_the_script_makes() -> None:
    made = set(re.findall(r'out / "([\w-]+\.png)"', SCRIPT.read_text()))
    assert made == {"analyze-plot.png", "replay-sigma.png", "web-page.png"}
    shown = set(re.findall(r"\]\(docs/([\w-]+\.png)\)", (ROOT / "README.md").read_text()))
    assert made <= shown
    assert all((ROOT / "docs" / name).stat().st_size > 10_000 for name in made)


def test_the_script_draws_the_plots(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--only", "analyze", "--only",
                           "replay"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for name in ("analyze-plot.png", "replay-sigma.png"):
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and image.size == (1200, 650)
            assert len(image.convert("RGB").getcolors(1 << 24) or []) > 20, f"{name} is blank"
    assert not (tmp_path / "web-page.png").exists()
