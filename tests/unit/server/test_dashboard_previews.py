"""Pure parts of the run page, previews, raw downloads and compare."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from heron.artifacts.store import ArtifactStore
from heron.core.entities import ArtifactVersion
from heron.server.dashboard import previews
from heron.server.dashboard.face import PageError, Request
from heron.server.dashboard.pages import compare, raw, run

EVIL = "<script>alert(1)</script>"


@pytest.fixture
def blobs(tmp_path):
    return ArtifactStore(str(tmp_path / "artifacts"))


def _artifact(stored, name, materializer="file", type_="file", metadata=None):
    return ArtifactVersion(
        id="a1",
        name=name,
        version=1,
        content_hash=stored.content_hash,
        type=type_,
        materializer=materializer,
        size=stored.size,
        uri=stored.uri,
        metadata=metadata or {},
    )


def test_text_preview_keeps_text_as_text_and_cuts_long_ones(blobs):
    text = EVIL + "é" * 40_000
    stored = blobs.put_bytes(text.encode())
    shown = previews.preview(blobs, _artifact(stored, "notes.txt", "file.text", "text"))
    assert shown["kind"] == "text" and shown["truncated"]
    assert shown["text"].startswith(EVIL)  # the template escapes it
    assert len(shown["text"].encode()) <= previews.TEXT_BYTES + 3


def test_json_preview_is_pretty_printed(blobs):
    stored = blobs.put_bytes(json.dumps({"b": [1, 2], "a": EVIL}).encode())
    shown = previews.preview(blobs, _artifact(stored, "config.json", "file.json", "dict"))
    assert shown["kind"] == "json"
    assert '\n  "b": [\n' in shown["text"]


def test_images_and_reports_are_links_never_inlined(blobs):
    stored = blobs.put_bytes(b"<svg/>")
    shown = previews.preview(blobs, _artifact(stored, "plots/a.SVG"))
    assert shown == {
        "id": "a1",
        "raw": "/artifacts/a1/raw",
        "name": "plots/a.SVG",
        "kind": "image",
        "src": "/artifacts/a1/raw?inline=1",
    }
    report = previews.preview(blobs, _artifact(stored, "report.html"))
    assert report["kind"] == "html" and report["src"] == "/artifacts/a1/raw?frame=1"


def test_csv_preview_has_rows_and_column_stats(blobs):
    stored = blobs.put_bytes(b"a,b,name\n1,2.5,x\n3,,y\n5,4.5,z\n")
    shown = previews.preview(blobs, _artifact(stored, "data.csv"))
    assert shown["kind"] == "table"
    assert shown["rows"][1] == ["3", "", "y"]
    a, b, name = shown["columns"]
    assert (a["min"], a["max"], a["mean"], a["nulls"]) == (1, 5, 3, 0)
    assert b["nulls"] == 1 and b["mean"] == 3.5
    assert name["dtype"] == "string" and name["min"] is None
    assert shown["num_rows"] == 3 and shown["stats_from"] == "every row"


def test_parquet_step_output_preview_uses_the_first_rows_and_stored_stats(blobs):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"x": list(range(100)), "s": [f"v{i}" for i in range(100)]})

    def write(fs, folder):
        with fs.open(f"{folder}/table.parquet", "wb") as f:
            pq.write_table(table, f)

    stored, _ = blobs.write_object(write)
    stats = {"x": {"min": 0, "max": 99, "mean": 49.5, "null_count": 0}}
    artifact = _artifact(stored, "out", "arrow.parquet", "pyarrow.Table", {"stats": stats})
    shown = previews.preview(blobs, artifact)
    assert shown["kind"] == "table" and len(shown["rows"]) == previews.TABLE_ROWS
    assert shown["num_rows"] == 100 and shown["num_columns"] == 2
    x, s = shown["columns"]
    assert x["mean"] == 49.5 and x["max"] == 99
    assert s["min"] == "v0" and s["max"] == "v99"  # from the Parquet statistics


def test_folder_preview_lists_members_with_their_links(blobs, tmp_path):
    folder = tmp_path / "f"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(b"png")
    (folder / "sub" / "b c.txt").write_text("b")
    stored = blobs.put_dir(folder)
    shown = previews.preview(blobs, _artifact(stored, "f", "file", "directory"))
    assert shown["kind"] == "folder" and shown["count"] == 2
    first, second = shown["files"]
    assert first["path"] == "a.png" and first["image"]
    assert second["raw"] == "/artifacts/a1/raw?member=sub/b%20c.txt"


def test_a_missing_object_is_a_preview_that_says_so(blobs):
    stored = SimpleNamespace(content_hash="0" * 64, size=1, uri="x")
    shown = previews.preview(blobs, _artifact(stored, "gone.txt", "file.text", "text"))
    assert shown["kind"] == "none" and "could not be read" in shown["reason"]


def test_binary_files_and_unknown_materializers():
    assert previews._looks_like_text(b"plain words")
    assert not previews._looks_like_text(b"\x00\x01")
    assert previews.is_folder(SimpleNamespace(type="list", materializer="json"))
    assert not previews.is_folder(SimpleNamespace(type="file", materializer="file"))


def test_raw_types_and_dispositions():
    assert raw.content_type_of("a.PNG") == "image/png"
    assert raw.content_type_of("r.html") == "text/html"
    assert raw.content_type_of("x.py") == "text/plain"
    assert raw.content_type_of("m.bin") == "application/octet-stream"
    assert raw.disposition('we"ird é.txt', False) == (
        b"attachment; filename=\"we_ird _.txt\"; filename*=UTF-8''we%22ird%20%C3%A9.txt"
    )
    assert raw.disposition("dir/a.png", True).startswith(b'inline; filename="a.png"')
    assert raw.RAW_CSP.startswith(b"sandbox;")


def test_system_tags_are_grouped_apart():
    user, system = run.split_tags({"b": "1", "heron.logs": "u", "a": "2", "mlflow.user": "x"})
    assert user == [("a", "2"), ("b", "1")]
    assert [k for k, _ in system] == ["heron.logs", "mlflow.user"]


def test_logs_hash_of_a_uri():
    digest = "ab" + "c" * 62
    assert run.logs_hash(f"/root/objects/ab/{'c' * 62}") == digest
    assert run.logs_hash(f"s3://b/objects/ab/{'c' * 62}") == digest
    assert run.logs_hash("/nowhere") is None


def _request(query):
    return Request("GET", "/x", {}, query, {}, face=None)  # type: ignore[arg-type]


def test_chart_state_reads_the_url_and_refuses_nonsense():
    state = run.chart_state(_request({"x": ["time"], "smooth": ["0.6"], "log": ["1"]}))
    assert (state.x, state.smooth, state.log) == ("time", 0.6, True)
    for bad in ({"x": ["up"]}, {"smooth": ["2"]}, {"smooth": ["lots"]}):
        with pytest.raises(PageError) as e:
            run.chart_state(_request(bad))
        assert e.value.status == 400


def test_compare_run_ids_are_distinct_and_bounded():
    assert compare.run_ids(_request({"runs": ["a", "b,c", "a"]})) == ["a", "b", "c"]
    with pytest.raises(PageError):
        compare.run_ids(_request({"runs": ["a"]}))
    with pytest.raises(PageError):
        compare.run_ids(_request({"runs": [str(i) for i in range(51)]}))
    with pytest.raises(PageError):
        compare.run_ids(_request({"runs": ["a", "b' OR '1"]}))


def _run(i, params, metrics):
    return SimpleNamespace(id=f"r{i}", name=f"run {i}", params=params, metrics=metrics)


def test_side_by_side_marks_differences_and_missing_values():
    runs = [_run(0, {"lr": "0.1", "d": "3"}, {}), _run(1, {"lr": "0.2", "d": "3"}, {}),
            _run(2, {"d": "3"}, {})]  # fmt: skip
    rows = compare.side_by_side(runs, "params")
    assert [(r.key, r.values, r.differs) for r in rows] == [
        ("d", ["3", "3", "3"], False),
        ("lr", ["0.1", "0.2", None], True),
    ]


def test_axis_is_numeric_or_categorical():
    numeric = compare.axis("lr", ["0.1", "0.3", None, "0.2"], "param")
    assert numeric["positions"] == [0.0, 1.0, None, pytest.approx(0.5)]
    categorical = compare.axis("opt", ["sgd", "adam", "sgd"], "param")
    assert categorical["positions"] == [0.25, 0.75, 0.25]  # adam above sgd
    flat = compare.axis("d", ["3", "3"], "param")
    assert flat["positions"] == [0.5, 0.5]


def test_parallel_coordinates_draw_one_line_per_run_with_values():
    runs = [_run(0, {"lr": "0.1", "opt": "sgd"}, {"acc": 0.5}),
            _run(1, {"lr": "0.2", "opt": "adam"}, {"acc": 0.9}),
            _run(2, {}, {})]  # fmt: skip
    drawn = compare.parallel_coordinates(runs, ["lr", "opt"], "acc")
    assert [a["label"] for a in drawn["axes"]] == ["lr", "opt", "acc"]
    assert [line["run_id"] for line in drawn["lines"]] == ["r0", "r1"]  # r2 has no values
    first = drawn["lines"][0]["points"].split()
    assert len(first) == 3
    bottom = compare.PC_HEIGHT - compare.PC_BOTTOM
    assert first[0] == f"{compare.PC_SIDE}.0,{float(bottom)}"  # lr 0.1: the lowest
    assert compare.parallel_coordinates(runs, [], None) is None
