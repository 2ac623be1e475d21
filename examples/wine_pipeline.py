"""A training pipeline on scikit-learn's bundled wine data set (no download).

    heron run examples/wine_pipeline.py:training -p n_estimators=50
    python examples/wine_pipeline.py            # the same, from Python

Every return value is stored as a versioned artifact with lineage; run it twice and the
unchanged steps come from the cache.
"""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

import heron
from heron import pipeline, step


@step
def ingest() -> pd.DataFrame:
    """The wine data set as one table: 13 features and the `target` class."""
    frame = load_wine(as_frame=True).frame
    print(f"loaded {len(frame)} rows, {frame.shape[1] - 1} features")
    return frame


@step
def validate(df: pd.DataFrame) -> pd.DataFrame:
    """Refuse data with gaps or unknown classes before anything trains on it."""
    if df.isna().any().any():
        raise ValueError("the data has missing values")
    if not set(df["target"].unique()) <= {0, 1, 2}:
        raise ValueError("unexpected classes")
    return df


@step(outputs=("train", "test"))
def split(df: pd.DataFrame, test_size: float = 0.25, seed: int = 0):
    """A stratified train/test split."""
    train, test = train_test_split(df, test_size=test_size, random_state=seed, stratify=df.target)
    return train, test


@step(retries=1, retry_delay=0.5)
def train(train: pd.DataFrame, n_estimators: int = 100, max_depth: int = 5):
    """A random forest on the training rows; logs its training accuracy."""
    model = RandomForestClassifier(
        n_estimators=n_estimators, max_depth=max_depth, random_state=0
    ).fit(train.drop(columns="target"), train.target)
    heron.log_metric("train_accuracy", model.score(train.drop(columns="target"), train.target))
    return model


@step
def evaluate(model: RandomForestClassifier, test: pd.DataFrame) -> dict:
    """Accuracy and macro F1 on the held-out rows, logged and returned."""
    predicted = model.predict(test.drop(columns="target"))
    scores = {
        "accuracy": float(accuracy_score(test.target, predicted)),
        "f1_macro": float(f1_score(test.target, predicted, average="macro")),
    }
    heron.log_metrics(scores)
    return scores


@pipeline
def training(n_estimators: int = 100, max_depth: int = 5, test_size: float = 0.25):
    train_df, test_df = split(validate(ingest()), test_size=test_size)
    evaluate(train(train_df, n_estimators=n_estimators, max_depth=max_depth), test_df)


if __name__ == "__main__":
    run = training(n_estimators=50)
    for name, s in run.steps.items():
        print(f"{name:<10} {s.status:<10} {'(cached)' if s.cached else ''}")
    print(run.status, run.steps["evaluate"].outputs["output"].load())
