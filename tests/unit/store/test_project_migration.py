"""A SQLite database made before projects (revision 0009) upgrades to projects (0010)."""

from __future__ import annotations

from tests.support.project_migration import check_upgrade_from_0009
from tests.support.stores import sqlite_uri


def test_upgrade_from_0009_keeps_rows_in_default_and_frees_names_for_other_projects(tmp_path):
    check_upgrade_from_0009(sqlite_uri(tmp_path / "old.db"))
