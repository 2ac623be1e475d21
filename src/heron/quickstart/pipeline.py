"""The quickstart pipeline: wine data in, a registered champion model and batch scores out.

    ingest -> validate -> split -> train x4 -> evaluate x4 -> register -> batch_score

Every step is a tracked run (params, metrics, captured output) and every output a versioned
artifact with lineage. Each ``train`` step logs its model with ``heron.log_model``; ``register``
makes the best one the next version of the model ``quickstart`` (unless it is one already) and
points the alias ``champion`` at it; ``batch_score`` loads ``models:/quickstart@champion`` and
scores a hold-out set it has never seen. Run it twice: the second time every step but those
two (which read and change the registry) is reused from the cache.

Run it with ``heron quickstart`` (in a fresh workspace), or in your own workspace with
``heron run heron.quickstart.pipeline:quickstart``, or from Python::

    from heron.quickstart.pipeline import quickstart
    run = quickstart()
    run.steps["batch_score"].outputs["output"].load()
"""

from __future__ import annotations

from typing import Any

import heron
from heron import pipeline, step

MODEL_NAME = "quickstart"
ALIAS = "champion"

#: the hyper-parameter variants trained and compared: one `train` step (one run) each
VARIANTS: list[dict[str, Any]] = [
    {"kind": "logistic_regression", "C": 0.001},
    {"kind": "logistic_regression", "C": 1.0},
    {"kind": "random_forest", "n_estimators": 3, "max_depth": 1},
    {"kind": "random_forest", "n_estimators": 100, "max_depth": 6},
]


@step
def ingest() -> Any:
    """The wine data set that ships with scikit-learn: 178 wines, 13 measurements, 3 cultivars."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    print(f"ingested {len(frame)} rows x {frame.shape[1] - 1} features")
    return frame


@step
def validate(data: Any) -> Any:
    """Refuse data a model should not be trained on: missing values, non-numeric features, a
    class too small to split."""
    features = data.drop(columns="target")
    problems = []
    if data.isna().any().any():
        problems.append(f"missing values in {list(data.columns[data.isna().any()])}")
    non_numeric = [c for c in features.columns if features[c].dtype.kind not in "fi"]
    if non_numeric:
        problems.append(f"non-numeric features {non_numeric}")
    counts = data["target"].value_counts()
    if counts.min() < 10:
        problems.append(f"class {counts.idxmin()} has only {counts.min()} rows")
    if problems:
        raise ValueError("The data failed validation: " + "; ".join(problems))
    heron.log_metrics({"rows": len(data), "features": features.shape[1], "classes": len(counts)})
    return data


@step(outputs=("train", "test", "holdout"))
def split(data: Any, seed: int = 7) -> tuple[Any, Any, Any]:
    """60% to train on, 20% to compare the variants on, 20% held out for batch scoring."""
    from sklearn.model_selection import train_test_split

    train, rest = train_test_split(data, test_size=0.4, random_state=seed, stratify=data.target)
    test, holdout = train_test_split(rest, test_size=0.5, random_state=seed, stratify=rest.target)
    return train, test, holdout


@step(outputs=("classifier", "model_uri"))
def train(
    train: Any,
    kind: str,
    C: float = 1.0,
    n_estimators: int = 100,
    max_depth: int | None = None,
    seed: int = 7,
) -> tuple[Any, str]:
    """Fit one variant and log it as the model ``model`` of this step's run, with a signature
    inferred from the data (the step's own output, ``classifier``, is the same estimator)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "logistic_regression":
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    elif kind == "random_forest":
        model = RandomForestClassifier(
            n_estimators=n_estimators, max_depth=max_depth, random_state=seed
        )
    else:
        raise ValueError(f"Unknown model kind {kind!r}: use logistic_regression or random_forest.")
    features = train.drop(columns="target")
    model.fit(features.to_numpy(), train.target.to_numpy())  # arrays: the fast serving path
    heron.log_metric("train_accuracy", float(model.score(features.to_numpy(), train.target)))
    info = heron.log_model(model, "model", input_example=features.head(5))
    return model, info.model_uri


@step
def evaluate(model: Any, test: Any) -> dict[str, float]:
    """Accuracy and macro F1 on the comparison set."""
    from sklearn.metrics import accuracy_score, f1_score

    predicted = model.predict(test.drop(columns="target").to_numpy())
    scores = {
        "accuracy": float(accuracy_score(test.target, predicted)),
        "f1_macro": float(f1_score(test.target, predicted, average="macro")),
    }
    heron.log_metrics(scores)
    return scores


@step(cache=False)  # it changes the registry: run it every time, and make it idempotent
def register(model_uris: list[str], scores: list[dict[str, float]]) -> dict[str, Any]:
    """Make the variant with the best accuracy (then F1; then the simpler, earlier one) the
    ``champion``: registered as the next version unless it is a version already."""
    from heron.registry.operations import resolve_source

    best = max(range(len(scores)), key=lambda i: (scores[i]["accuracy"], scores[i]["f1_macro"], -i))
    client = heron.Client()
    artifact = resolve_source(client.store, model_uris[best])  # its id, without loading it
    known = [
        v
        for v in client.search_model_versions(f"name = '{MODEL_NAME}'")
        if v.artifact_id == artifact.id
    ]
    if known:
        version = known[0]
    else:
        version = client.register_model(
            MODEL_NAME,
            artifact,
            description=f"Quickstart variant {best}: {VARIANTS[best]}",
            tags={"variant": best, "accuracy": round(scores[best]["accuracy"], 4)},
        )
        print(f"registered {MODEL_NAME} version {version.version} (variant {best})")
    client.set_model_alias(MODEL_NAME, ALIAS, version.version)
    return {"variant": best, "version": version.version, **scores[best]}


@step(cache=False)  # the champion may have moved since the last run
def batch_score(champion: dict[str, Any], holdout: Any) -> Any:
    """Score the hold-out set with the registered champion, loaded from the registry."""
    model = heron.load_model(f"models:/{MODEL_NAME}@{ALIAS}")
    features = holdout.drop(columns="target")
    scored = holdout.assign(prediction=model.predict(features))
    accuracy = float((scored.prediction == scored.target).mean())
    heron.log_metrics({"holdout_accuracy": accuracy, "rows_scored": len(scored)})
    return scored


@pipeline(name="quickstart", experiment="quickstart")
def quickstart(seed: int = 7) -> None:
    """Wine data -> validated -> split -> four variants trained and evaluated -> the best
    registered as models:/quickstart@champion -> the hold-out set batch-scored with it."""
    data = validate(ingest())
    train_set, test_set, holdout = split(data, seed=seed)
    model_uris, scores = [], []
    for variant in VARIANTS:
        classifier, model_uri = train(train_set, seed=seed, **variant)
        scores.append(evaluate(classifier, test_set))
        model_uris.append(model_uri)
    champion = register(model_uris, scores)
    batch_score(champion, holdout)
