"""Every fenced Python block in ``docs/*.md`` runs, as a reader would paste it.

The blocks of one page run in order in one fresh interpreter (one namespace, so a block may
use what an earlier block of the same page defined), in a temporary working folder, with
``HOME``, ``HERON_HOME`` and ``HERON_TRACKING_URI`` pointed at temporary folders. A block
that cannot run here (it starts a server, needs a service or an optional library) is marked
``<!-- not-run: reason -->`` right before its fence (see ``tests/support/markdown_blocks``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from heron.core import uris
from heron.store.registry import get_store
from tests.support import markdown_blocks

pytestmark = pytest.mark.e2e

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted(DOCS.glob("*.md"))

# Files the examples treat as the reader's own, put in the working folder before they run.
READER_FILES = {
    # a 1x1 PNG, for `heron.log_artifact("plot.png")`
    "plot.png": bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    ),
}


def _python_blocks(page: Path) -> list[markdown_blocks.Block]:
    return [b for b in markdown_blocks.blocks(page) if b.language in markdown_blocks.PYTHON]


def test_the_docs_have_python_examples():
    assert PAGES, f"no pages in {DOCS}"
    assert sum(len(_python_blocks(page)) for page in PAGES) >= 10


def test_every_not_run_marker_gives_a_reason():
    for page in PAGES:
        for block in markdown_blocks.blocks(page):  # raises on a marker without a reason
            if block.not_run is not None:
                assert block.not_run.strip(), block.label


def test_the_marker_convention(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- not-run: needs a server -->\n\n```python\nx = 1\n```\n\n```bash\nheron init\n```\n"
    )
    first, second = markdown_blocks.blocks(page)
    assert (first.language, first.not_run, first.text) == ("python", "needs a server", "x = 1\n")
    assert (second.language, second.runnable) == ("bash", True)
    page.write_text("<!-- not-run: -->\n```python\nx = 1\n```\n")
    with pytest.raises(ValueError, match="must give a reason"):
        markdown_blocks.blocks(page)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_python_blocks_of_the_page_run(page: Path, tmp_path: Path):
    runnable = [b for b in _python_blocks(page) if b.runnable]
    if not runnable:
        pytest.skip(f"{page.name} has no runnable Python block")
    work = tmp_path / "work"
    work.mkdir()
    for name, content in READER_FILES.items():
        (work / name).write_bytes(content)
    store = tmp_path / "store" / "heron.db"
    store.parent.mkdir()
    get_store(uris.sqlite_uri(store))  # an existing store, as `heron init` makes
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env.update(
        HOME=str(tmp_path / "home"),
        HERON_HOME=str(tmp_path / "home" / ".heron"),
        HERON_TRACKING_URI=uris.sqlite_uri(store),
        MPLBACKEND="Agg",
        PYTHONHASHSEED="0",
    )
    (tmp_path / "home").mkdir()
    result = markdown_blocks.run_python(sys.executable, runnable, cwd=work, env=env)
    assert result.returncode == 0, (
        f"a Python block of docs/{page.name} failed:\n{result.stderr[-6000:]}"
    )
