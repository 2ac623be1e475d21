"""Pipelines: ``@step`` functions composed by a ``@pipeline`` into a DAG of tracked runs."""
