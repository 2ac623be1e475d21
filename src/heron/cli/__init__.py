"""The ``heron`` command line (click). Entry point: :func:`heron.cli.main.main`.

Sub-commands live in their own modules and load only when invoked (see :mod:`heron.cli.lazy`),
so ``heron --help`` and ``heron --version`` import neither SQLAlchemy nor rich.
"""
