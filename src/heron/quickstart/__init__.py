"""The quickstart: a real end-to-end pipeline on scikit-learn's bundled wine data set
(``heron quickstart``; the pipeline is :mod:`heron.quickstart.pipeline`)."""
