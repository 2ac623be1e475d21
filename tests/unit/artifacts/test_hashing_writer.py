"""Large arrays are hashed while written: same bytes as numpy.save, the right content hash."""

from __future__ import annotations

import io

import pytest

from heron.artifacts.hashing_writer import HashingWriter
from heron.artifacts.store import ArtifactStore
from heron.core.hashing import directory_manifest, hash_bytes, hash_manifest

np = pytest.importorskip("numpy")


def test_hashing_writer_digest_equals_sha256_of_written_bytes():
    sink = io.BytesIO()
    writer = HashingWriter(sink)
    for chunk in (b"abc", bytearray(b"x" * 100_000), memoryview(b"tail")):
        writer.write(chunk)
    assert writer.hexdigest() == hash_bytes(sink.getvalue())
    assert writer.size == len(sink.getvalue())


@pytest.mark.parametrize(
    "array",
    [
        np.arange(3_000_000, dtype="float64").reshape(1000, 3000),
        np.arange(5_000_000, dtype="<i4"),
        np.zeros((1500, 1500), dtype=[("a", "<f8"), ("b", "<i4")]),
    ],
    ids=["2d-float", "int32", "structured"],
)
def test_large_array_object_is_byte_identical_and_hashed_right(tmp_path, array):
    from heron.artifacts.materializers import get_materializer

    store = ArtifactStore(str(tmp_path))
    numpy_materializer = get_materializer("numpy")
    stored, _ = store.write_object(lambda fs, path: numpy_materializer.save(array, fs, path))
    folder = store.object_path(stored.content_hash)
    assert hash_manifest(directory_manifest(folder)) == stored.content_hash  # read back: same
    expected = io.BytesIO()
    np.save(expected, array, allow_pickle=False)
    assert (tmp_path / "objects").exists()
    with open(f"{folder}/array.npy", "rb") as f:
        assert f.read() == expected.getvalue()
    loaded = numpy_materializer.load(store.fs, folder)
    assert np.array_equal(loaded, array) and loaded.dtype == array.dtype


def test_non_contiguous_large_array_takes_the_plain_path(tmp_path):
    from heron.artifacts.materializers import get_materializer

    array = np.arange(4_000_000, dtype="float64").reshape(2000, 2000).T  # Fortran order view
    store = ArtifactStore(str(tmp_path))
    stored, _ = store.write_object(lambda fs, path: get_materializer("numpy").save(array, fs, path))
    folder = store.object_path(stored.content_hash)
    assert hash_manifest(directory_manifest(folder)) == stored.content_hash
    assert np.array_equal(get_materializer("numpy").load(store.fs, folder), array)
