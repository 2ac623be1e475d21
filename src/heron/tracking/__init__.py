"""Experiment tracking: the fluent API (``heron.start_run`` …), the log buffer and the Client."""
