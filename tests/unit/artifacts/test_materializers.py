"""Materializers: the registry, the choice by type, JSON, the cloudpickle fallback, plugins."""

from __future__ import annotations

import collections
import json
import logging
import math
import subprocess
import sys
import threading

import pytest

from heron.artifacts.materializers import (
    ENTRY_POINT_GROUP,
    CloudpickleMaterializer,
    JsonMaterializer,
    Materializer,
    MaterializerError,
    get_materializer,
    list_materializers,
    materializer_for,
    register_materializer,
    registry,
)
from heron.core.errors import AlreadyExists, HeronError, InvalidArgument, NotFound

LOGGER = "heron.artifacts.materializers"
BUILTIN_NAMES = {
    "arrow.parquet",
    "cloudpickle",
    "json",
    "numpy",
    "numpy.scalar",
    "pandas.parquet",
    "sklearn.joblib",
}


class Point:
    """A user type with no materializer (picklable by reference: module level)."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


class Point3(Point):
    def __init__(self, x: int, y: int, z: int) -> None:
        super().__init__(x, y)
        self.z = z


class PointMaterializer(Materializer):
    name = "test.point"
    version = "2"
    types = (f"{__name__}.Point",)

    def save(self, obj, fs, path):
        with fs.open(f"{path}/point.json", "w") as f:
            json.dump([obj.x, obj.y], f)
        return {"type": self.type_name(obj)}

    def load(self, fs, path):
        with fs.open(f"{path}/point.json") as f:
            return Point(*json.load(f))


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("this object refuses to be pickled")


class FakeEntryPoint:
    def __init__(self, name, value, target=None, error=None):
        self.name, self.value, self.group = name, value, ENTRY_POINT_GROUP
        self._target, self._error = target, error

    def load(self):
        if self._error is not None:
            raise self._error
        return self._target


# --- the built-ins and the public surface ----------------------------------------------


def test_builtins_are_registered_with_names_versions_and_type_strings():
    materializers = list_materializers()
    assert {m.name for m in materializers} == BUILTIN_NAMES
    for m in materializers:
        assert isinstance(m, Materializer)
        assert isinstance(m.version, str) and m.version
        assert all(isinstance(t, str) and "." in t for t in m.types)
        assert get_materializer(m.name) is m
    assert [m.name for m in materializers] == sorted(BUILTIN_NAMES)


def test_importing_materializers_imports_no_heavy_library():
    code = (
        "import sys, heron.artifacts.materializers as m\n"
        "m.materializer_for({'a': [1, 2.5]}); m.list_materializers()\n"
        "heavy = {'numpy', 'pandas', 'pyarrow', 'sklearn', 'joblib', 'cloudpickle'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_heron_does_not_import_materializers():
    code = "import sys, heron; print('heron.artifacts.materializers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_name_is_not_found_and_lists_known_names():
    with pytest.raises(NotFound) as error:
        get_materializer("parquet")
    message = str(error.value)
    assert "'parquet'" in message
    assert "json" in message and "numpy" in message and "register_materializer" in message


def test_type_name_is_module_and_qualname():
    assert JsonMaterializer().type_name({}) == "builtins.dict"
    assert JsonMaterializer().type_name(None) == "builtins.NoneType"
    assert JsonMaterializer().type_name(Point3(1, 2, 3)) == f"{__name__}.Point3"


# --- JSON ------------------------------------------------------------------------------

JSON_VALUES = [
    None,
    True,
    0,
    -(2**63) + 1,
    2**63 - 1,
    1.5,
    -0.0,
    1e300,
    5e-324,
    "",
    "héllo wörld ✓ 😀",
    "\ud800 lone surrogate",
    [],
    {},
    [1, "a", None, True, 2.5, [], {}],
    {"ünïcode kéy": {"nested": [1, [2, [3, {"deep": "value"}]]]}, "": 0},
    list(range(1000)),
    [float(i) / 7 for i in range(1000)],
    {str(i): [i, str(i), i / 3] for i in range(200)},
    [{"a": 1, "b": [1.5, "x"]}] * 50,
]


@pytest.mark.parametrize("value", JSON_VALUES, ids=lambda v: repr(v)[:30])
def test_json_round_trips_plain_values(value, round_trip):
    materializer = materializer_for(value)
    assert materializer.name == "json"
    loaded, _ = round_trip(materializer, value)
    assert loaded == value
    assert type(loaded) is type(value)
    if isinstance(value, float):
        assert math.copysign(1, loaded) == math.copysign(1, value)


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), [1.0, float("-inf"), float("nan")], {"x": [float("nan")]}],
    ids=repr,
)
def test_json_round_trips_nan_and_infinities(value, round_trip):
    assert materializer_for(value).name == "json"
    loaded, metadata = round_trip(get_materializer("json"), value)
    assert json.dumps(loaded) == json.dumps(value)  # NaN == NaN for this purpose
    assert "value" not in metadata  # metadata stays strict JSON


def test_json_file_is_compact_json(fs, folder):
    path = folder()
    get_materializer("json").save({"a": [1, 2.5, None], "b": "é"}, fs, path)
    data = fs.cat_file(f"{path}/data.json")
    assert json.loads(data) == {"a": [1, 2.5, None], "b": "é"}
    assert b" " not in data and b"\n" not in data


def test_json_saves_the_same_value_to_the_same_bytes(fs, folder):
    value = {"b": [1, 2.0, "x"], "a": {"n": None}}
    first, second = folder(), folder()
    get_materializer("json").save(value, fs, first)
    get_materializer("json").save(json.loads(json.dumps(value)), fs, second)
    assert fs.cat_file(f"{first}/data.json") == fs.cat_file(f"{second}/data.json")


@pytest.mark.parametrize(
    "value",
    [
        (1, 2),
        [1, (2, 3)],
        {1, 2},
        frozenset({1}),
        b"bytes",
        {1: "int key"},
        {"a": {(1, 2): "tuple key"}},
        {"a": b"x"},
        2**64,
        [1, 2, -(2**70)],
        collections.OrderedDict(a=1),
        collections.defaultdict(list),
        collections.Counter("abc"),
        1 + 2j,
    ],
    ids=repr,
)
def test_json_refuses_values_it_would_change(value):
    assert not get_materializer("json").can_save(value)


def test_json_refuses_deep_or_circular_nesting():
    deep: list = []
    for _ in range(500):
        deep = [deep]
    circular: list = [1]
    circular.append(circular)
    assert not get_materializer("json").can_save(deep)
    assert not get_materializer("json").can_save(circular)


def test_json_save_refuses_what_it_cannot_store(fs, folder):
    with pytest.raises(MaterializerError, match=r"builtins\.tuple"):
        get_materializer("json").save((1, 2), fs, folder())


def test_json_metadata_holds_small_values_and_sizes_of_large_ones(round_trip):
    json_materializer = get_materializer("json")
    _, small = round_trip(json_materializer, {"lr": 0.1, "layers": [64, 32]})
    assert small["value"] == {"lr": 0.1, "layers": [64, 32]}
    assert small["type"] == "builtins.dict"
    _, large = round_trip(json_materializer, list(range(2000)))
    assert "value" not in large
    assert large == {"type": "builtins.list", "length": 2000, "nbytes": large["nbytes"]}
    assert large["nbytes"] > 1024
    _, none = round_trip(json_materializer, None)
    assert none["value"] is None


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        ((1, 2), "builtins.tuple"),
        ({1, 2}, "builtins.set"),
        (b"raw", "builtins.bytes"),
        ({1: "a"}, "builtins.dict"),
        (Point(1, 2), f"{__name__}.Point"),
    ],
)
def test_values_without_materializer_fall_back_to_cloudpickle_with_a_warning(
    value, type_name, caplog, round_trip
):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        materializer = materializer_for(value)
    assert materializer.name == "cloudpickle"
    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert f"no materializer for {type_name};" in message
    assert "cloudpickle" in message and "register_materializer" in message
    loaded, metadata = round_trip(materializer, value)
    assert loaded == value
    assert metadata["type"] == type_name


def test_choosing_json_logs_nothing(caplog):
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        materializer_for({"a": 1})
        materializer_for(3.5)
    assert not caplog.records


# --- unpicklable values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (threading.Lock(), "_thread.lock"),
        (Unpicklable(), f"{__name__}.Unpicklable"),
    ],
)
def test_unpicklable_value_raises_an_error_naming_the_type_and_the_fix(value, type_name):
    with pytest.raises(MaterializerError) as error:
        materializer_for(value)
    message = str(error.value)
    assert type_name in message
    assert "register_materializer" in message and ENTRY_POINT_GROUP in message
    assert isinstance(error.value, InvalidArgument) and isinstance(error.value, HeronError)


def test_unpicklable_value_nested_in_a_container_names_the_container():
    with pytest.raises(MaterializerError, match=r"builtins\.list.*_thread\.lock"):
        materializer_for([1, threading.Lock()])


def test_cloudpickle_save_of_unpicklable_value_raises_materializer_error(fs, folder):
    with pytest.raises(MaterializerError, match=r"_thread\.lock"):
        CloudpickleMaterializer().save(threading.Lock(), fs, folder())


def test_cloudpickle_stores_lambdas_and_local_classes(round_trip):
    def make():
        class Local:
            def __init__(self):
                self.f = lambda x: x * 2

        return Local()

    value = make()
    materializer = materializer_for(value)
    assert materializer.name == "cloudpickle"
    loaded, metadata = round_trip(materializer, value)
    assert loaded.f(21) == 42
    assert metadata["type"].endswith("make.<locals>.Local")
    assert metadata["python"] and metadata["cloudpickle"]


# --- choice by type ------------------------------------------------------------------------


def test_registered_materializer_is_chosen_for_its_type_and_round_trips(round_trip):
    register_materializer(PointMaterializer)
    materializer = materializer_for(Point(1, 2))
    assert materializer.name == "test.point"
    assert get_materializer("test.point") is materializer
    loaded, _ = round_trip(materializer, Point(1, 2))
    assert loaded == Point(1, 2)


def test_subclass_of_a_registered_type_uses_its_materializer():
    register_materializer(PointMaterializer())
    assert materializer_for(Point3(1, 2, 3)).name == "test.point"


def test_most_specific_registered_type_wins():
    class Point3Materializer(PointMaterializer):
        name = "test.point3"
        types = (f"{__name__}.Point3",)

    register_materializer(Point3Materializer)  # registered first, yet more specific
    register_materializer(PointMaterializer)
    assert materializer_for(Point3(1, 2, 3)).name == "test.point3"
    assert materializer_for(Point(1, 2)).name == "test.point"


def test_user_materializer_beats_the_builtin_for_the_same_type():
    class DictAsText(JsonMaterializer):
        name = "test.dict"
        types = ("builtins.dict",)

    register_materializer(DictAsText)
    assert materializer_for({"a": 1}).name == "test.dict"
    assert materializer_for([1]).name == "json"  # other types keep the built-in


def test_latest_user_registration_wins_among_equals():
    class First(PointMaterializer):
        name = "test.first"

    class Second(PointMaterializer):
        name = "test.second"

    register_materializer(First)
    register_materializer(Second)
    assert materializer_for(Point(0, 0)).name == "test.second"


def test_materializer_refusing_a_value_passes_it_on():
    class OnlyOrigin(PointMaterializer):
        name = "test.origin"

        def can_save(self, obj):
            return (obj.x, obj.y) == (0, 0)

    register_materializer(PointMaterializer)
    register_materializer(OnlyOrigin)
    assert materializer_for(Point(0, 0)).name == "test.origin"
    assert materializer_for(Point(1, 0)).name == "test.point"


def test_base_class_materializer_catches_subclasses_of_builtins_json_refuses(caplog):
    class Ordered(JsonMaterializer):
        name = "test.ordered"
        types = ("collections.OrderedDict",)

        def can_save(self, obj):
            return True

    assert materializer_for(collections.OrderedDict(a=1)).name == "cloudpickle"
    register_materializer(Ordered)
    assert materializer_for(collections.OrderedDict(a=1)).name == "test.ordered"


def test_type_given_by_a_public_alias_is_matched_once_its_module_is_loaded():
    # collections.OrderedDict is canonical; `heron_test_alias.Thing` only re-exports a class
    import types

    module = types.ModuleType("heron_test_alias")
    module.Thing = Point3
    sys.modules["heron_test_alias"] = module
    try:

        class ByAlias(PointMaterializer):
            name = "test.alias"
            types = ("heron_test_alias.Thing",)

        register_materializer(ByAlias)
        assert materializer_for(Point3(1, 2, 3)).name == "test.alias"
        assert materializer_for(Point(1, 2)).name == "cloudpickle"
    finally:
        del sys.modules["heron_test_alias"]


def test_duplicate_name_raises_unless_override():
    class Impostor(PointMaterializer):
        name = "json"

    with pytest.raises(AlreadyExists, match="override=True"):
        register_materializer(Impostor)
    assert isinstance(get_materializer("json"), JsonMaterializer)

    register_materializer(Impostor, override=True)
    assert isinstance(get_materializer("json"), Impostor)
    # the replaced built-in no longer handles its types
    assert materializer_for({"a": 1}).name == "cloudpickle"
    assert materializer_for(Point(1, 2)).name == "json"


def test_registering_the_same_class_again_replaces_it_quietly():
    register_materializer(PointMaterializer)
    register_materializer(PointMaterializer)
    assert [m.name for m in list_materializers()].count("test.point") == 1


@pytest.mark.parametrize(
    "bad",
    [
        object(),
        type("NoName", (PointMaterializer,), {"name": ""}),
        type("NoVersion", (PointMaterializer,), {"name": "test.v", "version": 2}),
        type("StrTypes", (PointMaterializer,), {"name": "test.s", "types": "builtins.int"}),
        type("ShortType", (PointMaterializer,), {"name": "test.t", "types": ("int",)}),
    ],
)
def test_registering_a_malformed_materializer_is_an_invalid_argument(bad):
    with pytest.raises(InvalidArgument):
        register_materializer(bad)


def test_registry_choice_is_cached_and_cleared_on_registration():
    assert materializer_for(Point(1, 2)).name == "cloudpickle"
    register_materializer(PointMaterializer)
    assert materializer_for(Point(1, 2)).name == "test.point"


# --- entry-point plugins -------------------------------------------------------------------


def _registry_with(monkeypatch, entry_points):
    fresh = registry.MaterializerRegistry.with_builtins(entry_points=lambda: entry_points)
    monkeypatch.setattr(registry, "_registry", fresh)
    return fresh


def test_entry_point_plugin_is_loaded_on_first_lookup(monkeypatch):
    loads = []

    class Loud(FakeEntryPoint):
        def load(self):
            loads.append(self.name)
            return super().load()

    _registry_with(monkeypatch, [Loud("point", "tests:PointMaterializer", PointMaterializer)])
    assert loads == []  # nothing at import or registry creation
    assert get_materializer("test.point").version == "2"
    assert materializer_for(Point(1, 2)).name == "test.point"
    list_materializers()
    assert loads == ["point"]  # once


def test_entry_point_may_name_an_instance(monkeypatch):
    _registry_with(monkeypatch, [FakeEntryPoint("p", "x:y", PointMaterializer())])
    assert materializer_for(Point(1, 2)).name == "test.point"


def test_plugins_are_read_through_importlib_metadata(monkeypatch):
    import importlib.metadata

    seen = {}

    def entry_points(**kwargs):
        seen.update(kwargs)
        return [FakeEntryPoint("point", "tests:PointMaterializer", PointMaterializer)]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(registry, "_registry", registry.MaterializerRegistry.with_builtins())
    assert materializer_for(Point(1, 2)).name == "test.point"
    assert seen == {"group": ENTRY_POINT_GROUP}


def test_broken_plugins_are_logged_not_raised(monkeypatch, caplog):
    plugins = [
        FakeEntryPoint("broken", "gone.module:Thing", error=ImportError("No module named 'gone'")),
        FakeEntryPoint("not_a_class", "pkg:thing", target=42),
        FakeEntryPoint(
            "taken", "pkg:Json", target=type("J", (PointMaterializer,), {"name": "json"})
        ),
        FakeEntryPoint("good", "pkg:Point", target=PointMaterializer),
    ]
    _registry_with(monkeypatch, plugins)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert materializer_for(Point(1, 2)).name == "test.point"
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(messages) == 3
    assert any("broken" in m and "No module named 'gone'" in m for m in messages)
    assert any("not_a_class" in m and "not a materializer" in m for m in messages)
    assert any("taken" in m and "registered already" in m for m in messages)
    assert isinstance(get_materializer("json"), JsonMaterializer)


def test_failure_to_list_entry_points_is_logged(monkeypatch, caplog):
    def explode():
        raise RuntimeError("metadata is corrupt")

    monkeypatch.setattr(
        registry, "_registry", registry.MaterializerRegistry.with_builtins(entry_points=explode)
    )
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert materializer_for({"a": 1}).name == "json"
    assert any("entry points" in r.getMessage() for r in caplog.records)


def test_user_registration_beats_a_plugin_for_the_same_type(monkeypatch):
    class Mine(PointMaterializer):
        name = "test.mine"

    _registry_with(monkeypatch, [FakeEntryPoint("p", "x:y", PointMaterializer)])
    register_materializer(Mine)  # before the plugins load, yet it wins
    assert materializer_for(Point(1, 2)).name == "test.mine"
    assert get_materializer("test.point").name == "test.point"


def test_plugin_may_look_materializers_up_while_loading(monkeypatch):
    class Reentrant(FakeEntryPoint):
        def load(self):
            assert get_materializer("json").name == "json"  # no recursion, no deadlock
            return PointMaterializer

    _registry_with(monkeypatch, [Reentrant("p", "x:y")])
    assert materializer_for(Point(1, 2)).name == "test.point"


def test_concurrent_first_lookups_all_see_the_plugins(monkeypatch):
    started = threading.Event()

    class Slow(FakeEntryPoint):
        def load(self):
            started.set()
            threading.Event().wait(0.2)
            return PointMaterializer

    _registry_with(monkeypatch, [Slow("p", "x:y")])
    names = []
    threads = [
        threading.Thread(target=lambda: names.append(materializer_for(Point(1, 2)).name))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert started.is_set()
    assert names == ["test.point"] * 4
