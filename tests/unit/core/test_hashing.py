"""Content hashes: the identity of stored artifacts."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from heron.core import hashing

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..")
)


@given(st.binary(max_size=5000))
def test_file_hash_equals_bytes_hash(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("h") / "f"
    path.write_bytes(data)
    assert hashing.hash_file(path) == hashing.hash_bytes(data) == hashlib.sha256(data).hexdigest()


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(names, st.binary(max_size=64), min_size=1, max_size=6))
def test_directory_hash_depends_on_names_and_bytes_only(tmp_path_factory, files):
    a = tmp_path_factory.mktemp("a")
    b = tmp_path_factory.mktemp("b")
    for name, data in files.items():
        (a / name).write_bytes(data)
    for name, data in reversed(list(files.items())):  # another creation order
        (b / name).write_bytes(data)
    assert hashing.hash_directory(a) == hashing.hash_directory(b)

    first = next(iter(files))
    (b / first).write_bytes(files[first] + b"!")
    assert hashing.hash_directory(a) != hashing.hash_directory(b)


def test_renaming_a_file_changes_the_directory_hash(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "x").write_bytes(b"1")
    before = hashing.hash_directory(a)
    (a / "x").rename(a / "y")
    assert hashing.hash_directory(a) != before
