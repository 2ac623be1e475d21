"""Files, folders, texts and dicts logged to runs become content-addressed artifact versions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import heron
from heron.core.errors import InvalidArgument, NotFound


def test_log_file_folder_text_and_dict(tmp_path):
    plot = tmp_path / "plot.png"
    plot.write_bytes(b"\x89PNG fake")
    folder = tmp_path / "report"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    with heron.start_run() as run:
        f = heron.log_artifact(plot)
        d = heron.log_artifact(folder, artifact_path="outputs")
        t = heron.log_text("hello", "notes.txt")
        j = heron.log_dict({"a": 1, "nested": {"b": [1, 2]}}, "config.json")
    c = heron.Client()
    assert f.name == "plot.png" and f.type == "file" and f.size == plot.stat().st_size
    assert Path(f.load()).read_bytes() == b"\x89PNG fake"
    assert d.name == "outputs/report" and d.type == "directory" and d.metadata["files"] == 2
    assert (Path(d.load()) / "sub" / "b.txt").read_text() == "b"
    assert c.get_artifact("notes.txt").load() == "hello"
    assert c.get_artifact("config.json").load() == {"a": 1, "nested": {"b": [1, 2]}}
    links = {link.name: link for link in c.list_run_artifacts(run.id)}
    assert set(links) == {"plot.png", "outputs/report", "notes.txt", "config.json"}
    assert all(link.direction == "output" for link in links.values())
    assert {a.id for a in c.list_artifacts(run_id=run.id)} == {f.id, d.id, t.id, j.id}
    assert all(a.producer_run_id == run.id for a in (f, d, t, j))


def test_same_content_is_stored_once_and_versions_increment(tmp_path):
    with heron.start_run():
        a = heron.log_text("same", "x.txt")
    with heron.start_run():
        b = heron.log_text("same", "x.txt")
        c = heron.log_text("other", "x.txt")
    assert (a.version, b.version, c.version) == (1, 2, 3)
    assert a.content_hash == b.content_hash != c.content_hash
    assert a.uri == b.uri
    objects = [p for p in (tmp_path / "artifacts" / "objects").rglob("*") if p.is_file()]
    assert len(objects) == 2
    assert heron.Client().get_artifact("x.txt", version=1).load() == "same"
    assert heron.Client().get_artifact("x.txt").load() == "other"


def test_download_artifact_by_run_and_path(tmp_path):
    with heron.start_run() as run:
        heron.log_dict({"k": "v"}, "cfg/params.json")
    target = heron.Client().download_artifact(run.id, "cfg/params.json", tmp_path / "out.json")
    assert json.loads(Path(target).read_text()) == {"k": "v"}
    with pytest.raises(NotFound):
        heron.Client().download_artifact(run.id, "missing.json")


def test_paths_cannot_escape_the_artifact_root(tmp_path):
    with heron.start_run():
        for bad in ("../evil.txt", "/etc/passwd", "a/../../b"):
            with pytest.raises(InvalidArgument, match="must be relative"):
                heron.log_text("x", bad)
        with pytest.raises(NotFound):
            heron.log_artifact(tmp_path / "does-not-exist")


def test_artifact_root_follows_environment(tmp_path, monkeypatch):
    root = tmp_path / "elsewhere"
    monkeypatch.setenv("HERON_ARTIFACT_URI", str(root))
    # the artifact store is chosen per call from the configuration
    with heron.start_run():
        art = heron.log_text("x", "where.txt")
    assert art.uri.startswith(str(root))
    assert os.path.exists(art.uri)
