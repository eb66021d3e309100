"""Where every stage reads and writes: the pipeline's file layout, mirrored by dvc.yaml."""

from pathlib import Path

METRICS = Path("metrics")
#: Written by the ``params`` stage when params.yaml passed its checks; every stage depends on it.
PARAMS_CHECKED = Path("data/params-checked.txt")

DEMO_DIR = Path("data/raw/demo")
DEMO_EXTERNAL_DIR = Path("data/raw/demo_external")  # the second hospital, CheXpert layout
DEMO_THIRD_DIR = Path("data/raw/demo_third")  # the third, held out of every model
SOURCES = Path("data/sources")  # the sources stage: the multi-source model and its tables
INTERIM = Path("data/interim")
METADATA = INTERIM / "metadata.parquet"
BOXES = INTERIM / "boxes.parquet"
EXPERT_LABELS = INTERIM / "expert.parquet"
PROCESSED = Path("data/processed")
MODEL_DIR = Path("data/model")
MODEL = MODEL_DIR / "best.pt"
THRESHOLDS = MODEL_DIR / "thresholds.json"
CALIBRATION = MODEL_DIR / "calibration.json"
GUARD = MODEL_DIR / "guard.npz"  # the input guard (cxr.guard), fitted by evaluate
PREDICTIONS = Path("data/predictions")
TRAIN_PLOTS = Path("plots/train")
EVAL_PLOTS = Path("plots/eval")
EXPLAIN_PLOTS = Path("plots/explain")
REPORTS = Path("reports")
WEIGHTS = Path("weights")  # peers' weights files, which the peer stages depend on
PEERS = Path("data/peers")  # `cxr score`: a published model's prediction tables and figures
EXTERNAL = Path("data/external")  # per external set: its arrays, predictions, rows left out
#: The training environment (not a DVC metric: machines differ, results should not).
ENVIRONMENT = METRICS / "env.json"


def metrics_file(stage: str) -> Path:
    return METRICS / f"{stage}.json"


def external_metrics(name: str) -> Path:
    """The headline of the external set ``name`` (stage ``external``)."""
    return METRICS / "external" / f"{name}.json"
