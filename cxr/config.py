"""Every setting of params.yaml: one frozen dataclass per section, with each key's default
and allowed values side by side (``cxr.knobs``).

The defaults are the shipped params.yaml (``tests/test_params.py`` checks the
two agree key for key, and ``cxr params demo`` restores them from here).
``stages/params.py`` builds these from params.yaml and refuses a value outside
its range before a stage touches an output; the library takes them as typed
arguments and never reads a file of settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from cxr.errors import InputError
from cxr.knobs import DEVICE, knob, speed_knob

#: Every architecture ``cxr.models.registry.build_model`` makes (``model.arch``).
Arch = Literal["densenet121", "dualpath", "resnet50"]
ARCHS: tuple[str, ...] = get_args(Arch)

#: Zhang et al.'s 15-px pointing tolerance on 224-px images, as a share of the image size.
ZHANG_TOLERANCE = 15 / 224

SEED = {"ge": 0, "lt": 2**32}  # what numpy and torch accept as a seed


@dataclass(frozen=True)
class DemoConfig:
    """``demo``: the synthetic data set in the NIH layout (``cxr.demo``)."""

    images: int = knob(3000, ge=10)
    size: int = knob(128, ge=32, le=4096)
    seed: int = knob(0, **SEED)
    workers: int = speed_knob(0, ge=0)  # 0: all cores
    # draw on this grid, then resize to size (0: draw at size)
    render_size: int = knob(0, also=(0,), ge=32, le=4096)
    # phantoms of a second hospital in CheXpert's layout, for external validation (0: none)
    external_images: int = knob(1000, also=(0,), ge=50)
    # phantoms of a third hospital in CheXpert's layout, held out of every model (0: none)
    third_images: int = knob(1000, also=(0,), ge=50)


#: The layouts ``cxr.external`` reads (``external.sets[].format``).
ExternalFormat = Literal["chexpert", "mimic", "padchest", "vindr", "rsna", "siim"]
NAME = {"pattern": r"[A-Za-z0-9][A-Za-z0-9_-]*", "meaning": "letters, digits, _ and -"}


def _refuse_repeats(names: list[str], key: str) -> None:
    """Entries of a params list are found by name: each name once."""
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{key}: the name {twice[0]!r} is used twice")


@dataclass(frozen=True)
class ExternalSet:
    """One entry of ``external.sets``: another data set in its public layout (another
    hospital's, or an NIH re-read: RSNA's and SIIM's films are NIH's own)."""

    name: str = knob("set", **NAME)  # names metrics/external/<name>.json and its report
    format: ExternalFormat = "chexpert"
    folder: str = ""  # the download's top folder (CheXpert-v1.0, mimic-cxr-jpg/2.0.0, ...)
    labels: str = ""  # its label file below folder; empty: the format's usual one


DEMO_HOSPITAL = ExternalSet("demo_hospital", "chexpert", "data/raw/demo_external")
THIRD_HOSPITAL = ExternalSet("third_hospital", "chexpert", "data/raw/demo_third")


@dataclass(frozen=True)
class IngestConfig:
    """``ingest``: how to read and split an NIH-layout folder (``cxr.ingest``)."""

    raw_dir: str = "data/raw/demo"
    label_file: str = ""  # empty: find Data_Entry_2017_v2020.csv(.gz) or Data_Entry_2017.csv(.gz)
    split: Literal["patient", "official"] = "patient"
    seed: int = knob(0, **SEED)
    val_fraction: float = knob(0.1, gt=0, lt=1)  # of images; in "official" mode, of train_val
    test_fraction: float = knob(0.2, gt=0, lt=1)  # "patient" mode only
    train_val_list: str = ""  # empty: <raw_dir>/train_val_list.txt
    test_list: str = ""  # empty: <raw_dir>/test_list.txt
    missing: Literal["skip", "error"] = "skip"
    # Pixel grid of the box coordinates: 0 = each image file's own pixels; N = an
    # N x N grid, as NIH's BBox_List_2017 uses 1024 even for shrunk copies.
    box_frame: int = knob(0, ge=0)
    # Further data sets trained on beside raw_dir's (which is source "nih"), each in its
    # public layout (an external.sets entry: name, format, folder, labels) with its own
    # patient split; cxr.external.sources, docs/sources.md
    sources: tuple[ExternalSet, ...] = ()
    # A source ("nih" or a name in sources) whose every image goes to test: never trained
    # or validated on, its figures are the held-out ones (leave-one-source-out)
    hold_out: str = ""

    def __post_init__(self) -> None:
        names = ["nih", *(s.name for s in self.sources)]
        _refuse_repeats(names, "ingest.sources (with 'nih', raw_dir's own)")
        if self.hold_out and self.hold_out not in names:
            raise InputError(
                f"ingest.hold_out = {self.hold_out!r} names no source; use one of {names}"
            )
        if self.hold_out and len(names) < 2:
            raise InputError("ingest.hold_out needs a second source to train on")
        if self.split == "patient" and self.val_fraction + self.test_fraction >= 1:
            raise InputError(
                f"ingest.val_fraction + ingest.test_fraction = "
                f"{self.val_fraction + self.test_fraction:g}; must be below 1 to leave a "
                "training split"
            )


@dataclass(frozen=True)
class PreprocessConfig:
    """``preprocess``: how images become arrays (``cxr.preprocess``)."""

    size: int = knob(64, ge=32, le=4096)
    keep_aspect: bool = True
    clahe: bool = True
    clahe_clip: float = knob(2.0, gt=0, le=100)
    clahe_grid: int = knob(8, ge=1, le=64)
    workers: int = speed_knob(0, ge=0)  # 0: all cores
    # A second array per split at this side (0: none), for a close look at detail. A
    # multiple of size: each array pixel is then exactly k x k detail pixels.
    detail_size: int = knob(0, also=(0,), ge=64, le=4096)

    def __post_init__(self) -> None:
        if self.detail_size and (self.detail_size <= self.size or self.detail_size % self.size):
            raise InputError(
                f"preprocess.detail_size = {self.detail_size}; must be 0 or a multiple of "
                f"preprocess.size ({self.size}) above it, e.g. {2 * self.size}"
            )

    @property
    def sizes(self) -> tuple[int, ...]:
        """The array sides preprocess writes: ``size``, then ``detail_size`` if set."""
        return (self.size, self.detail_size) if self.detail_size else (self.size,)


@dataclass(frozen=True)
class ModelConfig:
    """``model``: the architecture and its initialisation (``cxr.models.registry``)."""

    arch: Arch = "densenet121"
    weights: str = "auto"  # auto | imagenet | none | <path>
    dropout: float = knob(0.2, ge=0, lt=1)
    output_stride: Literal[16, 32] = 16  # 16: finer GradCAM maps; 32: torchvision's DenseNet121
    # stride 16: dense block 4's 3x3 convolutions dilated by 2, so pretrained filters see the
    # spacing they learned (false: undilated, as checkpoints before 2026-12; the ResNet's
    # stride 16 always dilates)
    dilated: bool = True
    # dualpath only: the ablation switches and the local path's crop
    cbam: bool = True
    fpn: bool = True
    local_path: bool = True
    # share of the heat map's range that is "hot" (AG-CNN: 0.7)
    crop_threshold: float = knob(0.7, gt=0, lt=1)
    # smallest crop side, as a share of the image side
    crop_min_share: float = knob(0.4, gt=0, le=1)
    # side the crop is resized to; 0: the input side (as AG-CNN)
    local_size: int = knob(48, also=(0,), ge=32, le=4096)
    # crop the local path's box from the detail array (preprocess.detail_size), not the input
    local_detail: bool = False
    # auto: bf16 autocast on CUDA from compute capability 8.0 and on CPUs with native bf16,
    # fp16 with loss scaling on older GPUs, else fp32 (cxr.device)
    precision: Literal["auto", "fp32"] = "auto"
    # recompute DenseNet bottlenecks in backward instead of keeping them: less memory,
    # more compute, bit-identical results (cxr.models.layers.CheckpointedDenseLayer)
    memory_efficient: bool = speed_knob(False)

    def __post_init__(self) -> None:
        if self.memory_efficient and self.arch == "resnet50":
            raise InputError(
                "model.memory_efficient = true checkpoints DenseNet layers; model.arch = "
                "resnet50 has none: turn memory_efficient off or use densenet121 or dualpath"
            )
        if not self.dilated and self.arch == "resnet50" and self.output_stride == 16:
            raise InputError(
                "model.dilated = false: resnet50 at output_stride 16 always dilates its last "
                "stage (torchvision's replace_stride_with_dilation); set dilated: true"
            )

    @property
    def input_views(self) -> int:
        """How many arrays of each image the model reads (``cxr.views``): two where the
        dual path's local path crops from the detail array."""
        return 2 if self.arch == "dualpath" and self.local_path and self.local_detail else 1


@dataclass(frozen=True)
class AugmentConfig:
    """``train.augment``: augmentation on the device (``cxr.training.augment``); all off
    gives the identity."""

    crop_scale_min: float = knob(0.8, gt=0, le=1)  # random resized crop: area share kept, min..1
    # max aspect-ratio change of the crop (and its inverse)
    crop_ratio: float = knob(1.1, ge=1, le=4)
    rotation_deg: float = knob(7.0, ge=0, le=180)
    brightness: float = knob(0.1, ge=0, le=1)  # additive, +- this on [0, 1] images
    contrast: float = knob(0.1, ge=0, lt=1)  # multiplicative about the mean, 1 +- this
    # probability; off by default: chest anatomy is not symmetric
    hflip: float = knob(0.0, ge=0, le=1)


@dataclass(frozen=True)
class TrainConfig:
    """``train``: the training loop (``cxr.training.loop``)."""

    epochs: int = knob(14, ge=1)
    batch_size: int = knob(32, ge=2)
    lr: float = knob(0.002, gt=0, le=1)
    weight_decay: float = knob(0.0001, ge=0, le=1)
    backbone_lr_mult: float = knob(0.05, ge=0, le=1)
    warmup_epochs: float = knob(0.5, ge=0)
    schedule: Literal["cosine", "plateau"] = "cosine"
    focal_gamma: float = knob(1.0, ge=0, le=10)
    class_weight: Literal["none", "alpha", "pos_weight"] = "pos_weight"
    patience: int = knob(4, ge=1)  # epochs without a better validation mean AUROC before stopping
    # several sources (ingest.sources): size = every image once per epoch; balanced = each
    # source an equal share of the epoch's draws, drawn with replacement
    source_sampling: Literal["size", "balanced"] = "size"
    seed: int = knob(0, **SEED)
    workers: int = speed_knob(0, ge=0)  # loader processes (0: read in the main process)
    device: str = speed_knob("auto", **DEVICE)
    sync_bn: bool = False  # synchronise BatchNorm statistics across GPUs (torchrun, CUDA only)
    compile: bool = False  # torch.compile the training step's model (CUDA: faster after warm-up)
    # steps between reads of the loss by the host (the steps in between never wait for the GPU)
    check_every: int = speed_knob(50, ge=1)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.sync_bn and self.compile:
            raise InputError(
                "train.sync_bn = true with train.compile = true: torch.compile graph-breaks "
                "on every SyncBatchNorm (pytorch#161302) and the pair is reported to fail "
                "(pytorch#107372); turn one of them off"
            )


@dataclass(frozen=True)
class EvaluateConfig:
    """``evaluate``: thresholds, calibration and intervals (``cxr.evaluation.evaluate``)."""

    threshold_policy: Literal["max_f1", "youden", "sensitivity"] = "max_f1"
    target_sensitivity: float = knob(0.9, gt=0, lt=1)  # with the "sensitivity" policy
    # patient resamples of the intervals; 0 = no intervals
    bootstrap: int = knob(1000, also=(0,), ge=100)
    confidence: float = knob(0.95, gt=0, lt=1)  # level of the intervals
    seed: int = knob(0, **SEED)  # of the bootstrap
    calibration: Literal["platt", "temperature", "none"] = "platt"
    # equal-width bins of ECE and the reliability diagrams
    calibration_bins: int = knob(10, ge=2, le=100)
    # input guard: share of validation images its feature distance may flag (cxr.guard)
    guard_false_flag: float = knob(0.01, gt=0, lt=0.5)
    batch_size: int = speed_knob(128, ge=1)
    device: str = speed_knob("auto", **DEVICE)


@dataclass(frozen=True)
class ExplainConfig:
    """``explain``: GradCAM localisation and its controls (``cxr.explain.explain``)."""

    # images per row (TP, FP, FN) of each class's gallery
    gallery_per_kind: int = knob(4, ge=0, le=100)
    # pointing-game tolerance, share of the image size
    tolerance: float = knob(ZHANG_TOLERANCE, ge=0, le=0.5)
    # heat-map share of its maximum boxed for IoBB/IoU (Wang et al.)
    box_threshold: float = knob(0.5, gt=0, lt=1)
    control_maps: int = knob(10, ge=1, le=1000)  # random maps per boxed case in the control
    # patient resamples of the intervals; 0 = no intervals
    bootstrap: int = knob(1000, also=(0,), ge=100)
    confidence: float = knob(0.95, gt=0, lt=1)  # level of the intervals
    batch_size: int = speed_knob(32, ge=1)
    seed: int = knob(0, **SEED)  # of the random-map controls and the bootstrap
    device: str = speed_knob("auto", **DEVICE)


@dataclass(frozen=True)
class ExternalConfig:
    """``external``: score the trained model on other data sets (``cxr.external``)."""

    sets: tuple[ExternalSet, ...] = (DEMO_HOSPITAL, THIRD_HOSPITAL)
    uncertain: Literal["ignore", "positive", "negative"] = "ignore"  # CheXpert, MIMIC: -1
    frontal_only: bool = True  # leave out lateral views (listed with the reason)
    # resamples of the intervals (patients; images where a set has none); 0 = none
    bootstrap: int = knob(1000, also=(0,), ge=100)
    confidence: float = knob(0.95, gt=0, lt=1)  # level of the intervals
    seed: int = knob(0, **SEED)  # of the bootstrap
    workers: int = speed_knob(0, ge=0)  # decoding processes (0: all cores)
    batch_size: int = speed_knob(128, ge=1)
    device: str = speed_knob("auto", **DEVICE)

    def __post_init__(self) -> None:
        _refuse_repeats([s.name for s in self.sets], "external.sets")
        unplaced = [s.name for s in self.sets if not s.folder]
        if unplaced:
            raise InputError(f"external.sets: {unplaced[0]!r} has no folder")


@dataclass(frozen=True)
class PeerModel:
    """One entry of ``peers.models``: a published model scored beside cxr's (``cxr.peers``)."""

    name: str = knob("peer", **NAME)  # names data/peers/<name> and metrics/peers/<name>.json
    # xrv:<torchxrayvision weights> or chexnet:<state dict file>
    model: str = knob("xrv:densenet121-res224-nih", pattern=r"(xrv|chexnet):.+",
                      meaning="xrv:<weights> or chexnet:<file>")  # fmt: skip
    random_init: bool = False  # random weights (a smoke test without the weights: no meaning)


@dataclass(frozen=True)
class PeersConfig:
    """``peers``: published models scored on the same images as cxr's (docs/peers.md)."""

    models: tuple[PeerModel, ...] = ()
    # torchxrayvision's weights folder (weights/: DVC tracks it); empty: ~/.torchxrayvision/...
    xrv_cache: str = "weights/xrv"
    external: bool = True  # also score each peer on every set of external.sets
    batch_size: int = speed_knob(16, ge=1)
    device: str = speed_knob("auto", **DEVICE)

    def __post_init__(self) -> None:
        _refuse_repeats([m.name for m in self.models], "peers.models")
        if any(m.name.lower() == "readme" for m in self.models):
            raise InputError("peers.models: 'README' names reports/peers/README.md; pick another")


@dataclass(frozen=True)
class SourcesConfig:
    """``sources``: train the model again with further hospitals' films and compare it with
    the main model on a hospital neither saw (``cxr.training.sources``, docs/sources.md)."""

    # names in external.sets trained on beside ingest's data (the multi-source model);
    # empty: no comparison (the stage says so and trains nothing)
    added: tuple[str, ...] = ("demo_hospital",)
    held_out: str = knob("third_hospital", **NAME)  # a name in external.sets no model sees
    bootstrap: int = knob(1000, ge=100)  # paired patient resamples of the difference
    confidence: float = knob(0.95, gt=0, lt=1)  # level of its intervals
    seed: int = knob(0, **SEED)  # of the bootstrap
    batch_size: int = speed_knob(128, ge=1)  # inference batch
    device: str = speed_knob("auto", **DEVICE)

    def __post_init__(self) -> None:
        _refuse_repeats(list(self.added), "sources.added")
        if self.held_out in self.added:
            raise InputError(
                f"sources.held_out = {self.held_out!r} is also in sources.added: a model "
                "would train on the films it is scored on"
            )


def check_together(configs: dict[str, object]) -> None:
    """Rules across sections (``configs``: section name -> its config); an
    :class:`InputError` names the keys."""
    model, preprocess, train = configs["model"], configs["preprocess"], configs["train"]
    if model.memory_efficient and train.compile:
        raise InputError(
            "model.memory_efficient = true with train.compile = true: torch.compile cannot "
            "trace the checkpointed DenseNet layers' BatchNorm fix (it refuses their "
            "context_fn); turn one of them off"
        )
    sources, external = configs.get("sources"), configs.get("external")
    if sources is not None and external is not None and sources.added:
        sets = [s.name for s in external.sets]
        unknown = [n for n in (*sources.added, sources.held_out) if n not in sets]
        trained = [
            s.name for s in configs["ingest"].sources if s.name != configs["ingest"].hold_out
        ]
        if sources.held_out in trained:
            raise InputError(
                f"sources.held_out = {sources.held_out!r} is in ingest.sources: the pipeline's "
                "model trains on it; hold it out (ingest.hold_out) or pick another"
            )
        if unknown:
            raise InputError(
                f"sources.added / sources.held_out name {unknown}, not in external.sets "
                f"(which lists {sets}); name sets listed there, or set sources.added: [] to "
                "skip the multi-source comparison"
            )
    if model.input_views > 1 and not preprocess.detail_size:
        raise InputError(
            "model.local_detail = true, but preprocess.detail_size = 0: the local path crops "
            f"from the detail array; set preprocess.detail_size, e.g. {2 * preprocess.size}"
        )


#: The config of each params.yaml section, in pipeline order.
SECTIONS: dict[str, type] = {
    "demo": DemoConfig,
    "ingest": IngestConfig,
    "preprocess": PreprocessConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
    "explain": ExplainConfig,
    "external": ExternalConfig,
    "peers": PeersConfig,
    "sources": SourcesConfig,
}
