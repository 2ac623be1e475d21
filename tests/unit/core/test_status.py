"""The one table of run status transitions."""

from __future__ import annotations

import pytest

from heron.core import status
from heron.core.errors import InvalidArgument, InvalidState


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("pending", "running"),
        ("running", "completed"),
        ("running", "failed"),
        ("failed", "running"),
        ("completed", "running"),
        ("running", "running"),
    ],
)
def test_allowed(current, new):
    status.check_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("completed", "failed"),
        ("skipped", "running"),
        ("cached", "running"),
        ("running", "pending"),
        ("running", "cached"),
    ],
)
def test_refused(current, new):
    with pytest.raises(InvalidState, match="cannot move"):
        status.check_transition(current, new)


def test_unknown_status():
    with pytest.raises(InvalidArgument, match="Unknown run status"):
        status.check_transition("running", "finished")
