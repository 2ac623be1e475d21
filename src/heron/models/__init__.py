"""Models as artifacts: ``log_model`` stores one with its flavor, library versions and
signature; ``load_model`` reads one back (by ``models:/``, ``runs:/`` or artifact id) as a
:class:`~heron.models.model.Model` whose ``predict`` takes pandas, NumPy, lists and dicts."""
