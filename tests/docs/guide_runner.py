"""Run a Markdown guide the way a reader would: every fenced block, in order, in one fresh folder.

* ```` ```python ```` blocks run in one namespace (a guide is one script); ``FIG_DIR`` is given: the
  folder the guide's figures go to (``docs/guides/figures`` when the figures are remade, a temporary
  folder in the tests);
* ```` ```toml title=NAME ```` (any language with ``title=NAME``) writes the block to the file NAME,
  as a reader copying it would;
* ```` ```console ```` blocks: every line starting with ``$ `` is a command run by the shell in the
  folder (``cellbalance`` is the installed command, the one the README installs); a non-zero exit
  fails the guide;
* other blocks (output shown to the reader) are not run.

A failure raises :class:`GuideError` naming the guide, the line of the block and what went wrong.
Remake the committed figures with ``python tests/docs/guide_runner.py docs/guides/NAME.md``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```(\w*)([^\n]*)$")


class GuideError(AssertionError):
    pass


@dataclass
class Block:
    lang: str
    info: str
    line: int
    text: str


def blocks(markdown: str) -> list[Block]:
    out, cur, lines = [], None, markdown.splitlines()
    for k, line in enumerate(lines, 1):
        m = FENCE.match(line.strip()) if line.startswith("```") else None
        if cur is None and m:
            cur = Block(m.group(1), m.group(2).strip(), k, "")
        elif cur is not None and line.startswith("```"):
            out.append(cur)
            cur = None
        elif cur is not None:
            cur.text += line + "\n"
    if cur is not None:
        raise GuideError(f"unclosed code block at line {cur.line}")
    return out


def _command_env() -> dict:
    env = dict(os.environ)
    # the interpreter's own scripts folder first: the `cellbalance` the README installs
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_guide(path: Path, workdir: Path, fig_dir: Path | None = None) -> list[str]:
    """Run guide ``path`` in ``workdir``; returns the figure files it referenced."""
    path = Path(path)
    workdir.mkdir(parents=True, exist_ok=True)
    fig_dir = Path(fig_dir or workdir / "figures")
    fig_dir.mkdir(parents=True, exist_ok=True)
    text = path.read_text()
    ns: dict = {"__name__": "__guide__", "FIG_DIR": fig_dir}
    env = _command_env()
    old = os.getcwd()
    os.chdir(workdir)
    try:
        for b in blocks(text):
            title = re.search(r"title=(\S+)", b.info)
            where = f"{path.name}, block at line {b.line}"
            if title:
                Path(title.group(1)).write_text(b.text)
            elif b.lang == "python":
                try:
                    exec(compile(b.text, f"{path.name}:{b.line}", "exec"), ns)
                except Exception as e:
                    tb = "".join(traceback.format_exception(e)[-3:])
                    raise GuideError(f"{where}: {type(e).__name__}: {e}\n{tb}") from e
            elif b.lang == "console":
                for cmd in (ln[2:] for ln in b.text.splitlines() if ln.startswith("$ ")):
                    r = subprocess.run(cmd, shell=True, env=env, capture_output=True, text=True)
                    if r.returncode != 0:
                        raise GuideError(f"{where}: `{cmd}` exited {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    finally:
        os.chdir(old)
    return re.findall(r"!\[[^\]]*\]\(figures/([^)]+)\)", text)


if __name__ == "__main__":  # remake the committed figures of the guides given
    for g in sys.argv[1:]:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            figs = run_guide(Path(g).resolve(), Path(d), Path(g).resolve().parent / "figures")
        print(g, "ok;", "figures:", ", ".join(figs) or "none")
