"""The fenced code blocks of a Markdown file, for tests that execute the documentation.

A block is excluded from execution by an HTML comment on the line right before its fence
(blank lines between them are allowed)::

    <!-- not-run: starts a server that runs until Ctrl+C -->
    ```bash
    heron serve models:/iris@champion
    ```

The reason is required: a marker without one is an error, so that every block left out says
why. Temporary exclusions for known product bugs start their reason with ``TODO(issue N)``.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

NOT_RUN = re.compile(r"^\s*<!--\s*not-run:\s*(?P<reason>.*?)\s*-->\s*$")
_MARKER_LIKE = re.compile(r"^\s*<!--\s*not-run\b")
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")

#: Fence languages that are run as Python and as shell commands.
PYTHON = frozenset({"python", "py", "python3"})
SHELL = frozenset({"bash", "sh", "shell"})


@dataclass(frozen=True)
class Block:
    """One fenced block: its language (the info string's first word), its text, where it
    starts (the 1-based line of the opening fence) and why it is not run, if it is not."""

    path: Path
    language: str
    text: str
    line: int
    not_run: str | None = None

    @property
    def runnable(self) -> bool:
        return self.not_run is None

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every fenced block of the Markdown file ``path``, in order."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        info = match["info"].strip()
        language = info.split()[0].lower() if info else ""
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines):
            closing = lines[i].strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                break
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
            i += 1
        else:
            raise ValueError(f"{path}:{start + 1}: the fenced block is never closed")
        found.append(
            Block(
                path=Path(path),
                language=language,
                text="\n".join(body) + "\n",
                line=start + 1,
                not_run=_marker(path, lines, start),
            )
        )
        i += 1
    return found


def _marker(path: Path, lines: list[str], fence_index: int) -> str | None:
    """The reason of the ``not-run`` marker right before the fence at ``fence_index``."""
    j = fence_index - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j < 0 or not _MARKER_LIKE.match(lines[j]):
        return None
    match = NOT_RUN.match(lines[j])
    if match is None or not match["reason"]:
        raise ValueError(
            f"{path}:{j + 1}: a not-run marker must give a reason on one line: "
            "<!-- not-run: why this block is not executed -->"
        )
    return match["reason"]


def shell_commands(text: str) -> list[str]:
    """The commands of a shell block: one per line, with ``\\`` continuations joined, blank
    lines and whole-line comments left out (trailing ``# comments`` are kept; the shell
    ignores them)."""
    commands: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if line.strip() and not line.lstrip().startswith("#"):
            commands.append(line.strip())
    if pending.strip():
        commands.append(pending.strip())
    return commands


# The program that runs Python blocks in one fresh interpreter: it reads a JSON list of
# {"label", "text"} from the file named by argv[1], runs each block in one shared namespace
# (as a reader pasting them into one session would), and prints SEPARATOR + label before
# each block so that the output of every block can be told apart.
SEPARATOR = "\x1e--- heron-doc-block "
_DRIVER = r"""
import json, sys, traceback
blocks = json.load(open(sys.argv[1], encoding="utf-8"))
namespace = {"__name__": "__main__"}
for block in blocks:
    print(SEPARATOR + block["label"], flush=True)
    print(SEPARATOR + block["label"], file=sys.stderr, flush=True)
    try:
        exec(compile(block["text"], block["label"], "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print("FAILED " + block["label"], file=sys.stderr, flush=True)
        sys.exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
"""


@dataclass
class PythonResult:
    """What running Python blocks printed: ``returncode`` and each block's stdout by label."""

    returncode: int
    stdout: str
    stderr: str

    def output_of(self, label: str) -> str:
        """What the block ``label`` printed on stdout."""
        return _section(self.stdout, label)

    def failure(self) -> str:
        """The error output of the block that failed (all of stderr if none is marked)."""
        return self.stderr


def _section(text: str, label: str) -> str:
    parts = text.split(SEPARATOR)
    for part in parts[1:]:
        head, _, body = part.partition("\n")
        if head == label:
            return body
    raise KeyError(f"no output for block {label}")


def run_python(
    python: str,
    items: list[Block],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float = 300,
) -> PythonResult:
    """Run ``items`` (Python blocks) in order in one fresh interpreter ``python``."""
    payload = [{"label": b.label, "text": b.text} for b in items]
    with tempfile.TemporaryDirectory() as scratch:
        blocks_file = Path(scratch) / "blocks.json"
        blocks_file.write_text(json.dumps(payload), encoding="utf-8")
        driver = f"SEPARATOR = {SEPARATOR!r}\n" + _DRIVER
        done = subprocess.run(
            [python, "-c", driver, str(blocks_file)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    return PythonResult(done.returncode, done.stdout, done.stderr)
