"""Hardening (issue items 4 and 14): artifact and model names are relative paths that cannot
leave the folder they are joined to, are checked before any byte is stored, fit file systems,
and text that is not valid UTF-8 is an InvalidArgument everywhere, never a raw
UnicodeEncodeError."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import heron
from heron.artifacts.store import ArtifactStore, path_under
from heron.core.errors import InvalidArgument
from heron.core.validation import check_artifact_name

TRAVERSALS = ["../../../../x", "a/../../b", "../evil", "a/..", "..", "./a", "a/./b"]
UNUSABLE = [
    "/abs",
    "/",
    "C:/x",
    "c:x",
    "a\\..\\..\\b",
    "\\\\server\\share",
    "a//b",
    "a/",
    "nul\0inside",
    "line\nbreak",
    "tab\there",
    "esc\x1b",
    "\x7f",
    "",
    "   ",
    "\ud800",
    "ok/\udcff",
    "é" * 250,  # 500 bytes in one file name: more than any file system takes
    "a" * 256 + "b",  # 257 characters
]


def double(x):
    return x * 2


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _artifact_root() -> Path:
    from heron.tracking.run_artifacts import artifact_store_for

    return Path(artifact_store_for(heron.Client().store).root)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Temporary folders are made four levels down in ``tmp_path/outside``, so that a name
    climbing four levels out of one lands in a folder the test can watch."""
    outside = tmp_path / "outside"
    deep = outside / "l1" / "l2" / "l3"
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    return outside


# --- item 4: path traversal --------------------------------------------------------------


@pytest.mark.parametrize("name", TRAVERSALS)
def test_log_model_refuses_names_that_climb_out_and_nothing_is_written(sandbox, name):
    with heron.start_run() as run:
        before = _files_under(sandbox) | _files_under(_artifact_root())
        with pytest.raises(InvalidArgument, match="must be relative"):
            heron.log_model(double, name)
    c = heron.Client()
    assert c.list_run_artifacts(run.id) == []
    assert _files_under(sandbox) | _files_under(_artifact_root()) == before
    with pytest.raises(InvalidArgument, match="must be relative"):
        c.download_artifact(run.id, name)
    assert _files_under(sandbox) | _files_under(_artifact_root()) == before


@pytest.mark.parametrize("name", TRAVERSALS + UNUSABLE)
def test_every_writer_refuses_the_name_before_any_byte_is_stored(tmp_path, name):
    local = tmp_path / "plain.txt"
    local.write_text("content")
    writers = {
        "log_model": lambda: heron.log_model(double, name),
        "log_text": lambda: heron.log_text("text", name),
        "log_dict": lambda: heron.log_dict({"a": 1}, name),
        "log_artifact": lambda: heron.log_artifact(local, artifact_path=name),
    }
    root = _artifact_root()
    with heron.start_run() as run:
        for writer, write in writers.items():
            if writer == "log_artifact" and name in ("a/", ""):
                continue  # a folder path may end in '/'; an empty one means no folder
            with pytest.raises(InvalidArgument):
                write()
            assert _files_under(root) == set(), f"{writer} left objects behind for {name!r}"
    assert heron.Client().list_run_artifacts(run.id) == []


def test_log_artifact_refuses_an_absolute_artifact_path_instead_of_rewriting_it(tmp_path):
    local = tmp_path / "f.txt"
    local.write_text("hi")
    with heron.start_run() as run:
        for bad in ("/abs", "/abs/", "C:/abs", "../up", "a/../../up"):
            with pytest.raises(InvalidArgument, match="must be relative"):
                heron.log_artifact(local, artifact_path=bad)
        ok = heron.log_artifact(local, artifact_path="figures/")  # one trailing '/' is fine
    assert ok.name == "figures/f.txt"
    assert [link.name for link in heron.Client().list_run_artifacts(run.id)] == ["figures/f.txt"]
    assert _files_under(_artifact_root()) == {Path(ok.uri)}


def test_store_refuses_unusable_names_from_any_caller():
    """The metadata store applies the same check (a remote client, the step executor)."""
    store = heron.Client().store
    fields = dict(content_hash="ab" * 32, type="t", materializer="json", size=1, uri="u")
    for bad in ("../x", "/abs", "a\\b", "é" * 250, "\ud800"):
        with pytest.raises(InvalidArgument):
            store.create_artifact_version(bad, **fields)
        with pytest.raises(InvalidArgument):
            store.create_artifact_version("fine", link_name=bad, **fields)
    assert store.list_artifact_versions() == []


def test_joined_paths_stay_under_their_root(tmp_path):
    root = tmp_path / "root"
    assert path_under(root, "a/b.txt") == str(root / "a" / "b.txt")
    for bad in ("../x", "a/../../x", "/etc/passwd", "a\\..\\x"):
        with pytest.raises(InvalidArgument):
            path_under(root, bad)
    blobs = ArtifactStore(str(tmp_path / "artifacts"))
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "m.txt").write_text("member")
    obj = blobs.put_dir(folder)
    (tmp_path / "artifacts" / "secret.txt").write_text("secret")
    assert blobs.open(obj.content_hash, "m.txt").read() == b"member"
    for bad in ("../../../secret.txt", "/etc/passwd", "..\\..\\..\\secret.txt"):
        with pytest.raises(InvalidArgument):
            blobs.open(obj.content_hash, bad)


# --- item 14: names file systems cannot take, text that is not UTF-8 ----------------------


def test_a_name_too_long_for_a_file_system_is_refused_with_a_clear_message():
    with heron.start_run(), pytest.raises(InvalidArgument, match="at most 255 bytes per file"):
        heron.log_model(double, "é" * 250)
    with heron.start_run(), pytest.raises(InvalidArgument, match="at most 255 bytes per file"):
        heron.log_text("x", "é" * 128)  # 256 bytes
    assert _files_under(_artifact_root()) == set()


def test_long_non_ascii_names_that_fit_round_trip(tmp_path):
    name = "é" * 127 + "/" + "ü" * 120  # 254 and 240 bytes per part, 247 characters
    with heron.start_run() as run:
        heron.log_text("long", name)
        info = heron.log_model(double, "é" * 127)
    c = heron.Client()
    assert Path(c.download_artifact(run.id, name)).read_text() == "long"
    target = Path(c.download_artifact(run.id, info.name, tmp_path))
    assert target == tmp_path / info.name and target.is_dir()
    assert heron.load_model(info.model_uri).predict([[2.0]]).tolist() == [[4.0]]


@pytest.mark.parametrize(
    "call",
    [
        lambda c, run: c.get_run("\ud800"),
        lambda c, run: c.get_experiment("\ud800"),
        lambda c, run: c.get_experiment_by_name("x\ud800"),
        lambda c, run: c.get_artifact("\ud800"),
        lambda c, run: c.get_artifact("\ud800", 1),
        lambda c, run: c.list_artifacts(name="\ud800"),
        lambda c, run: c.register_model("m", "runs:/\ud800/x"),
        lambda c, run: c.register_model("\ud800", f"runs:/{run.id}/model"),
        lambda c, run: heron.load_model("runs:/\ud800/x"),
        lambda c, run: heron.load_model("models:/\ud800/1"),
        lambda c, run: c.download_artifact("\ud800", "model"),
        lambda c, run: c.download_artifact(run.id, "\ud800"),
        lambda c, run: c.download_artifact(run.id, "\ud800", "out.bin"),
        lambda c, run: c.search_runs(experiment="\ud800"),
    ],
)
def test_text_that_is_not_utf8_is_an_invalid_argument(call):
    with heron.start_run() as run:
        heron.log_model(double, "model")
    with pytest.raises(InvalidArgument, match="not valid UTF-8"):
        call(heron.Client(), run)


# --- download_artifact(dst=...) ----------------------------------------------------------


def test_download_into_an_existing_folder_writes_folder_slash_name(tmp_path):
    with heron.start_run() as run:
        heron.log_text("hello", "notes/readme.txt")
        heron.log_text("top", "top.txt")
    c = heron.Client()
    dst = tmp_path / "downloads"
    dst.mkdir()
    assert c.download_artifact(run.id, "notes/readme.txt", dst) == str(dst / "notes" / "readme.txt")
    assert (dst / "notes" / "readme.txt").read_text() == "hello"
    assert c.download_artifact(run.id, "top.txt", str(dst)) == str(dst / "top.txt")
    assert (dst / "top.txt").read_text() == "top"
    # a dst that is not a folder is the file written
    file_target = tmp_path / "new" / "copy.txt"
    assert c.download_artifact(run.id, "top.txt", file_target) == str(file_target)
    assert file_target.read_text() == "top"
    # without dst: a new temporary folder, as <tmp>/<name>
    default = Path(c.download_artifact(run.id, "notes/readme.txt"))
    assert default.parts[-2:] == ("notes", "readme.txt") and default.read_text() == "hello"


# --- property: refused, or a round trip under the destination ----------------------------

_PIECES = st.one_of(
    st.sampled_from(
        ["/", ".", "..", "\\", ":", "C:", "\0", "\n", "\ud800", " ", "~", "é" * 60, "a", "%2e"]
    ),
    st.text(max_size=12),
)
NAMES = st.lists(_PIECES, max_size=8).map("".join)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=NAMES)
def test_any_name_is_refused_or_round_trips_under_the_destination(tmp_path, name):
    client = heron.Client()
    with heron.start_run() as run:
        try:
            heron.log_text(f"content of {name!r}", name)
        except InvalidArgument:
            with pytest.raises(InvalidArgument):
                check_artifact_name(name)
            assert client.list_run_artifacts(run.id) == []
            return
    assert check_artifact_name(name) == name
    dst = Path(tempfile.mkdtemp(dir=tmp_path))
    target = Path(client.download_artifact(run.id, name, dst)).resolve()
    assert os.path.commonpath([dst.resolve(), target]) == str(dst.resolve())
    assert target.relative_to(dst.resolve()).as_posix() == name
    assert target.read_text() == f"content of {name!r}"
