"""NumPy arrays (``array.npy``, memory-mapped loads) and NumPy scalars."""

from __future__ import annotations

import logging

import pytest

from heron.artifacts.materializers import MaterializerError, get_materializer, materializer_for

np = pytest.importorskip("numpy")
fsspec = pytest.importorskip("fsspec")


ARRAYS = {
    "empty": lambda: np.array([]),
    "empty_2d": lambda: np.zeros((0, 3), dtype=np.int32),
    "zero_d": lambda: np.array(3.5),
    "float64_with_nan": lambda: np.array([1.0, np.nan, np.inf, -np.inf, -0.0]),
    "int8": lambda: np.arange(-128, 128, dtype=np.int8),
    "uint64": lambda: np.array([0, 2**64 - 1], dtype=np.uint64),
    "bool": lambda: np.array([[True, False], [False, True]]),
    "complex": lambda: np.array([1 + 2j, -3.5j]),
    "float16": lambda: np.array([1.5, 2.25], dtype=np.float16),
    "datetime": lambda: np.array(["2024-01-01", "NaT"], dtype="datetime64[s]"),
    "timedelta": lambda: np.array([1, 2], dtype="timedelta64[ms]"),
    "unicode": lambda: np.array(["héllo", "wörld", "😀"]),
    "bytes": lambda: np.array([b"ab", b"c"]),
    "structured": lambda: np.array([(1, 2.5), (3, 4.5)], dtype=[("a", "i4"), ("b", "f8")]),
    "fortran": lambda: np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    "non_contiguous": lambda: np.arange(100.0)[::3],
    "big_endian": lambda: np.arange(5, dtype=">i4"),
    "3d": lambda: np.random.default_rng(0).random((4, 5, 6)),
    "large": lambda: np.random.default_rng(1).random(2_000_000),
}


@pytest.mark.parametrize("name", ARRAYS)
def test_arrays_round_trip(name, round_trip):
    array = ARRAYS[name]()
    materializer = materializer_for(array)
    assert materializer.name == "numpy"
    loaded, metadata = round_trip(materializer, array)
    assert loaded.dtype == array.dtype
    assert loaded.shape == array.shape
    assert np.array_equal(loaded, array, equal_nan=array.dtype.kind in "fcmM")
    assert metadata == {
        "type": "numpy.ndarray",
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "nbytes": array.nbytes,
    }


def test_local_loads_are_memory_mapped_and_private(fs, folder):
    array = np.arange(1000.0)
    path = folder()
    get_materializer("numpy").save(array, fs, path)
    loaded = get_materializer("numpy").load(fs, path)
    assert isinstance(loaded, np.memmap)
    loaded[0] = -1.0  # copy-on-write: the stored file is untouched
    again = get_materializer("numpy").load(fs, path)
    assert again[0] == 0.0
    assert np.array_equal(np.load(f"{path}/array.npy"), array)


def test_memmap_returned_by_a_step_is_stored_again(fs, folder, round_trip):
    path = folder()
    get_materializer("numpy").save(np.arange(10), fs, path)
    mapped = get_materializer("numpy").load(fs, path)
    assert materializer_for(mapped).name == "numpy"
    loaded, metadata = round_trip(get_materializer("numpy"), mapped[2:5])
    assert np.array_equal(loaded, [2, 3, 4])
    assert metadata["type"] == "numpy.memmap"


def test_file_is_a_plain_npy_without_pickle(fs, folder):
    path = folder()
    get_materializer("numpy").save(np.arange(6).reshape(2, 3), fs, path)
    assert fs.ls(path, detail=False) == [f"{path}/array.npy"]
    assert np.array_equal(np.load(f"{path}/array.npy", allow_pickle=False), [[0, 1, 2], [3, 4, 5]])


def test_same_array_is_saved_to_the_same_bytes(fs, folder):
    first, second = folder(), folder()
    get_materializer("numpy").save(np.arange(100.0), fs, first)
    get_materializer("numpy").save(np.arange(100.0), fs, second)
    assert fs.cat_file(f"{first}/array.npy") == fs.cat_file(f"{second}/array.npy")


def test_arrays_round_trip_on_a_non_local_file_system(round_trip):
    memory = fsspec.filesystem("memory")
    memory.makedirs("/heron-test/array", exist_ok=True)
    array = np.random.default_rng(2).random((50, 3))
    loaded, _ = round_trip(get_materializer("numpy"), array, memory, "/heron-test/array")
    assert type(loaded) is np.ndarray
    assert np.array_equal(loaded, array)
    memory.rm("/heron-test", recursive=True)


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.array([1, "a", None], dtype=object),
        lambda: np.array([(1, {"a": 1})], dtype=[("i", "i4"), ("o", "O")]),
        lambda: np.ma.masked_array([1, 2, 3], mask=[0, 1, 0]),
        lambda: np.matrix([[1, 2]]),
    ],
    ids=["object", "structured_object", "masked", "matrix"],
)
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix
def test_arrays_npy_cannot_keep_fall_back_to_cloudpickle(make, caplog, round_trip):
    array = make()
    assert not get_materializer("numpy").can_save(array)
    with caplog.at_level(logging.WARNING, logger="heron.artifacts.materializers"):
        materializer = materializer_for(array)
    assert materializer.name == "cloudpickle"
    assert type(array).__name__ in caplog.text
    loaded, _ = round_trip(materializer, array)
    assert type(loaded) is type(array)
    if isinstance(array, np.ma.MaskedArray):
        assert np.array_equal(loaded.mask, array.mask)


SCALARS = [
    np.float64(0.5),
    np.float64("nan"),
    np.float32(1.25),
    np.float16(2.0),
    np.int64(-(2**63)),
    np.uint8(255),
    np.bool_(True),
    np.complex128(1 + 1j),
    np.datetime64("2024-02-29T12:00"),
    np.timedelta64(5, "s"),
    np.str_("héllo"),
    np.bytes_(b"raw"),
]


@pytest.mark.parametrize("scalar", SCALARS, ids=lambda s: f"{type(s).__name__}({s})")
def test_numpy_scalars_round_trip_with_their_type(scalar, round_trip):
    materializer = materializer_for(scalar)
    assert materializer.name == "numpy.scalar"
    loaded, metadata = round_trip(materializer, scalar)
    assert type(loaded) is type(scalar)
    assert loaded == scalar or (np.isnan(loaded) and np.isnan(scalar))
    assert metadata["dtype"] == str(scalar.dtype)


def test_numpy_scalar_metadata_has_a_plain_value(round_trip):
    _, metadata = round_trip(get_materializer("numpy.scalar"), np.float32(0.5))
    assert metadata == {"type": "numpy.float32", "dtype": "float32", "value": 0.5}
    _, metadata = round_trip(get_materializer("numpy.scalar"), np.float64("inf"))
    assert metadata["value"] is None
    _, metadata = round_trip(get_materializer("numpy.scalar"), np.int16(7))
    assert metadata["value"] == 7 and type(metadata["value"]) is int


def test_numpy_float64_is_not_taken_by_json_although_it_subclasses_float():
    assert isinstance(np.float64(1.0), float)
    assert materializer_for(np.float64(1.0)).name == "numpy.scalar"
    assert materializer_for([np.float64(1.0)]).name == "cloudpickle"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("numpy", [1, 2, 3]),
        ("numpy", np.array([1, None], dtype=object)),
        ("numpy.scalar", 1.5),
    ],
)
def test_explicitly_chosen_numpy_materializer_refuses_other_values(name, value, fs, folder):
    with pytest.raises(MaterializerError, match=rf"'{name}' materializer cannot store"):
        get_materializer(name).save(value, fs, folder())
