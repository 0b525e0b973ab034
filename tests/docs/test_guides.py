"""Every guide in docs/ runs as written (CI executes them, so they cannot rot), produces the figures
it shows, and the mechanism fails on a broken guide."""

from pathlib import Path

import pytest

from .guide_runner import GuideError, run_guide

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDES = [DOCS / "getting-started.md", *sorted((DOCS / "guides").glob("*.md"))]


@pytest.mark.slow
@pytest.mark.parametrize("guide", GUIDES, ids=[g.stem for g in GUIDES])
def test_guide_runs_and_makes_its_figures(guide, tmp_path):
    figs = run_guide(guide, tmp_path / "work", tmp_path / "figures")
    for f in figs:
        made = tmp_path / "figures" / f
        assert made.is_file() and made.stat().st_size > 1000, f"{guide.name} shows figures/{f} but did not make it"
        assert (guide.parent / "figures" / f).is_file(), f"figures/{f} is not committed next to {guide.name}"


def test_a_broken_guide_fails_with_its_name_and_line(tmp_path):
    broken = tmp_path / "broken.md"
    broken.write_text("# A guide\n\n```python\nx = 1\n```\n\nText.\n\n```python\nassert x == 2, 'x is not 2'\n```\n")
    with pytest.raises(GuideError, match=r"broken.md, block at line 9: AssertionError: x is not 2"):
        run_guide(broken, tmp_path / "w")
    failing_cmd = tmp_path / "cmd.md"
    failing_cmd.write_text("```console\n$ cellbalance no-such-command\n```\n")
    with pytest.raises(GuideError, match=r"cmd.md, block at line 1: `cellbalance no-such-command` exited [1-9]"):
        run_guide(failing_cmd, tmp_path / "w2")
    good = tmp_path / "good.md"
    good.write_text("```toml title=a.toml\nx = 1\n```\n```python\nassert open('a.toml').read() == 'x = 1\\n'\n```\n")
    run_guide(good, tmp_path / "w3")
