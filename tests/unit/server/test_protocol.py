"""The REST protocol's pieces that need no server: the route table against the Store
interface, request models, values JSON cannot hold, routing, downsampling and error codes."""

from __future__ import annotations

import inspect
import math

import pytest
from pydantic import ValidationError

from heron.core import errors
from heron.core.entities import Metric, PagedList, Run
from heron.server.routing import Router
from heron.store.base import Store
from heron.store.downsample import downsample
from heron.store.rest import protocol
from heron.store.rest.store import RestStore


def test_every_store_method_is_exactly_one_route():
    abstract = {name for name, _ in inspect.getmembers(Store) if name in Store.__abstractmethods__}
    assert {route.name for route in protocol.ROUTES} == abstract
    assert len({(r.method, r.full_path) for r in protocol.ROUTES}) == len(protocol.ROUTES)
    assert not RestStore.__abstractmethods__


def test_request_models_take_the_store_arguments_and_refuse_others():
    model = protocol.request_model("create_run", "rest", strict=True)
    parsed = model.model_validate_json(b'{"experiment_id": "e1", "name": "n"}')
    assert (parsed.experiment_id, parsed.name, parsed.kind) == ("e1", "n", "run")
    with pytest.raises(ValidationError, match="colour"):
        model.model_validate_json(b'{"experiment_id": "e1", "colour": "red"}')
    with pytest.raises(ValidationError):  # strict: text is not an integer
        protocol.request_model("search_runs", "rest", strict=True).model_validate_json(
            b'{"max_results": "10"}'
        )
    with pytest.raises(ValidationError):  # integers are 64-bit, as in the databases
        model.model_validate_json(b'{"experiment_id": "e", "start_time": 99999999999999999999}')


def test_path_fields_are_not_body_fields():
    route = protocol.BY_NAME["log_batch"]
    assert route.path_fields == ("run_id",)
    assert "run_id" not in protocol.request_model("log_batch", "rest").model_fields


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0.5, 3])
def test_non_finite_floats_travel_as_names(value):
    rows = protocol.encode_metrics([Metric("k", value, 1, 2)])
    assert all(not isinstance(v, float) or math.isfinite(v) for v in rows[0])
    (back,) = protocol.decode_metrics(rows)
    assert (math.isnan(back.value) and math.isnan(value)) or back.value == value


def test_a_batch_travels_as_plain_arrays_whatever_its_values():
    import orjson

    finite = [Metric("a", 0.5, 1, 2), Metric("b", 3, 4, 5)]
    assert orjson.loads(orjson.dumps(protocol.encode_metrics(finite))) == [
        ["a", 0.5, 1, 2],
        ["b", 3, 4, 5],
    ]
    # one non-finite value among many, finite values whose sum overflows, short tuples
    mixed = [Metric("a", 1e308, 0, 0), Metric("a", 1e308, 1, 0), Metric("n", math.nan, 2, 0)]
    mixed += [("s", -math.inf), ("t", 1.0, 7)]
    rows = orjson.loads(orjson.dumps(protocol.encode_metrics(mixed)))
    assert rows == [
        ["a", 1e308, 0, 0],
        ["a", 1e308, 1, 0],
        ["n", "NaN", 2, 0],
        ["s", "-Infinity", 0, 0],
        ["t", 1.0, 7, 0],
    ]
    assert protocol.encode_metrics([]) == []


def test_runs_with_non_finite_metrics_are_written_with_names():
    run = Run(id="r", experiment_id="e", name="n", metrics={"a": math.nan, "b": 1.0})
    encoded = protocol.encode_result("get_run", run)
    assert encoded["metrics"] == {"a": "NaN", "b": 1.0}
    page = protocol.decode_result("search_runs", {"items": [encoded], "token": "t"})
    assert isinstance(page, PagedList) and page.token == "t" and math.isnan(page[0].metrics["a"])


def test_every_error_code_maps_back_to_its_class():
    import heron.server.app  # noqa: F401 (its NoRoute answers NOT_FOUND too)

    classes = protocol.error_classes()
    for cls in (errors.NotFound, errors.Conflict, errors.FilterError, errors.StoreUnavailable):
        assert classes[cls.code] is cls
    assert issubclass(errors.RequestInvalid, errors.InvalidArgument)


def test_router_prefers_literal_segments_and_decodes_values():
    router: Router[str] = Router()
    router.add("GET", "/runs/{run_id}", "get")
    router.add("POST", "/runs/search", "search")
    router.add("GET", "/models/{name}/versions/{version}", "version")
    assert router.match("POST", "/runs/search") == ("search", {})
    assert router.match("GET", "/runs/abc") == ("get", {"run_id": "abc"})
    assert router.match("GET", "/models/a%2Fb/versions/3") == (
        "version",
        {"name": "a/b", "version": "3"},
    )
    assert router.match("DELETE", "/runs/abc") is False  # the path exists, not the method
    assert router.match("GET", "/nothing") is None


def test_downsampling_keeps_first_last_and_extremes():
    points = [Metric("m", float(i % 7), i, i) for i in range(1000)]
    points[500] = Metric("m", 100.0, 500, 500)
    points[600] = Metric("m", math.nan, 600, 600)
    thin = downsample(points, 40)
    assert len(thin) <= 40
    assert thin[0] == points[0] and thin[-1] == points[-1]
    assert points[500] in thin
    assert [p.step for p in thin] == sorted(p.step for p in thin)
    assert downsample(points[:10], 40) == points[:10]
    assert len(downsample(points, 2)) == 2
