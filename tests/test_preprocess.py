"""Preprocessing real and broken files into memmaps, and mapping boxes into the arrays."""

import shutil

import cv2
import numpy as np
import pandas as pd
import pytest

from cxr.config import IngestConfig, PreprocessConfig
from cxr.imaging.geometry import boxes_to_array
from cxr.imaging.resize import fit_square
from cxr.ingest import ingest
from cxr.preprocess import prepare_arrays, preprocess, preprocess_split


@pytest.fixture(scope="module")
def sample_with_bad_files(nih_dir, tmp_path_factory):
    """The real NIH sample plus a truncated PNG, a zero-byte file and a text file named .png."""
    raw = tmp_path_factory.mktemp("raw")
    shutil.copytree(nih_dir / "sample" / "images", raw / "images")
    good = sorted((raw / "images").glob("*.png"))
    bad = {
        good[0].name: "truncated PNG",
        good[1].name: "empty file",
        good[2].name: "not a PNG, JPEG or DICOM file",
    }
    data = good[0].read_bytes()
    good[0].chmod(0o644), good[1].chmod(0o644), good[2].chmod(0o644)
    good[0].write_bytes(data[: len(data) // 3])
    good[1].write_bytes(b"")
    good[2].write_text("Image Index,Finding Labels\n")
    config = IngestConfig(
        raw_dir=str(raw),
        label_file=str(nih_dir / "Data_Entry_2017_v2020.csv.gz"),
        split="official",
        train_val_list=str(nih_dir / "train_val_list.txt"),
        test_list=str(nih_dir / "test_list.txt"),
    )
    return raw, ingest(config).metadata, bad


def test_sample_preprocesses_and_bad_files_are_listed(sample_with_bad_files, tmp_path):
    raw, meta, bad = sample_with_bad_files
    metrics = preprocess(meta, raw, tmp_path, PreprocessConfig(size=64, workers=1))
    rejected = pd.read_csv(tmp_path / "rejected.csv")
    kinds = rejected.reason.str.extract(r"^([^(]*)")[0].str.strip()
    assert dict(zip(rejected.image_id, kinds, strict=True)) == bad
    assert metrics["rejected"] == 3 and metrics["images"] == 77 - 3
    total = 0
    for split in ("train", "val", "test"):
        array = np.load(tmp_path / f"{split}.npy", mmap_mode="r")
        index = pd.read_parquet(tmp_path / f"{split}.parquet")
        assert array.dtype == np.uint8 and array.shape == (len(index), 64, 64)
        assert (index.row == np.arange(len(index))).all()
        assert (index.split == split).all() and not set(index.image_id) & set(bad)
        # Row i of the array is the image named in row i of the index.
        for i in range(0, len(index), 7):
            raw_gray = cv2.imread(str(raw / index.path[i]), cv2.IMREAD_GRAYSCALE)
            assert (index.width[i], index.height[i]) == raw_gray.shape[::-1]
            # CLAHE at 256 px, then the shrink to 64 (OpenCV directly, as a reference).
            grow = raw_gray.shape[0] < 256  # the sample has some 64-px copies
            work = cv2.resize(
                raw_gray, (256, 256), interpolation=cv2.INTER_LINEAR if grow else cv2.INTER_AREA
            )
            work = cv2.createCLAHE(2.0, (8, 8)).apply(work)
            expected = cv2.resize(work, (64, 64), interpolation=cv2.INTER_AREA)
            assert np.abs(array[i].astype(int) - expected).max() <= 1
        total += len(index)
    assert total == 74


def test_workers_do_not_change_the_bytes(sample_with_bad_files, tmp_path):
    raw, meta, _ = sample_with_bad_files
    part = meta[meta.split == "train"].reset_index(drop=True)
    one = preprocess_split(part, raw, tmp_path / "one.npy", PreprocessConfig(size=48, workers=1))
    two = preprocess_split(part, raw, tmp_path / "two.npy", PreprocessConfig(size=48, workers=2))
    assert (tmp_path / "one.npy").read_bytes() == (tmp_path / "two.npy").read_bytes()
    pd.testing.assert_frame_equal(one.index, two.index)
    assert not list(tmp_path.glob("*.partial"))


def _boxed_image(w, h, box):
    """A black image with a white rectangle exactly on ``box`` (x, y, w, h in pixels)."""
    img = np.zeros((h, w), np.uint8)
    x, y, bw, bh = box
    img[y : y + bh, x : x + bw] = 255
    return img


@pytest.mark.parametrize(
    ("w", "h", "keep_aspect"), [(400, 400, True), (600, 300, True), (300, 500, False)]
)
def test_box_maps_to_the_right_array_pixels(w, h, keep_aspect):
    box = (100, 60, 80, 120)
    array, geom = fit_square(_boxed_image(w, h, box), 100, keep_aspect)
    index = pd.DataFrame({"image_id": ["a"], "row": [0], **{k: [v] for k, v in vars(geom).items()}})
    boxes = pd.DataFrame(
        {
            "image_id": ["a"],
            "finding": ["Mass"],
            "x": [box[0]],
            "y": [box[1]],
            "w": [box[2]],
            "h": [box[3]],
        }
    )
    m = boxes_to_array(boxes, index).iloc[0]
    x0, y0, x1, y1 = (round(m[k]) for k in ("x0", "y0", "x1", "y1"))
    assert array[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].min() >= 200  # inside: white
    outside = array.copy()
    outside[max(y0 - 1, 0) : y1 + 1, max(x0 - 1, 0) : x1 + 1] = 0
    assert outside.max() <= 30  # everything else: black


def test_box_in_a_1024_frame_maps_onto_a_shrunk_copy():
    # NIH's boxes are in the 1024-px grid even when the file was shrunk to 256.
    box1024 = (400, 200, 160, 320)
    img = _boxed_image(256, 256, tuple(v // 4 for v in box1024))
    array, geom = fit_square(img, 128)
    index = pd.DataFrame({"image_id": ["a"], "row": [0], **{k: [v] for k, v in vars(geom).items()}})
    boxes = pd.DataFrame(
        {
            "image_id": ["a"],
            "finding": ["Mass"],
            "x": [400.0],
            "y": [200.0],
            "w": [160.0],
            "h": [320.0],
            "frame": [1024],
        }
    )
    m = boxes_to_array(boxes, index).iloc[0]
    assert (m.x0, m.y0, m.x1, m.y1) == pytest.approx((50, 25, 70, 65))
    assert array[26:64, 51:69].min() >= 200


# --- a full disk ------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MB file system to fill (a tmpfs; mounting one needs root)."""
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 1 MB tmpfs to fill (needs root): {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture(scope="module")
def demo_meta(demo_dir):
    return ingest(IngestConfig(raw_dir=str(demo_dir))).metadata


def test_full_disk_stops_before_any_work_naming_folder_and_space(demo_meta, demo_dir, tiny_disk):
    from cxr.storage import DiskFullError

    config = PreprocessConfig(size=128, workers=1)
    need = len(demo_meta) * 128 * 128
    assert need > 2**20  # more than the disk holds
    with pytest.raises(DiskFullError, match=r"needs .* MB but its disk has") as err:
        preprocess(demo_meta, demo_dir, tiny_disk / "processed", config)
    message = str(err.value)
    assert str(tiny_disk / "processed") in message and f"{need / 1e6:.1f} MB" in message
    assert not [p for p in tiny_disk.rglob("*") if p.is_file()]  # nothing written


def test_reserve_on_a_full_disk_names_the_file(tiny_disk):
    from cxr.storage import DiskFullError, reserve

    sparse = tiny_disk / "train.npy.partial"
    with open(sparse, "wb") as f:
        f.truncate(4 * 2**20)  # a sparse file may claim more than the disk has
    with pytest.raises(DiskFullError, match=r"train\.npy\.partial: no room to write 4\.2 MB"):
        reserve(sparse)


def test_reserve_allocates_the_blocks_of_a_sparse_memmap(tmp_path):
    from cxr.storage import reserve

    path = tmp_path / "a.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(64, 128, 128)).flush()
    size = path.stat().st_size
    assert path.stat().st_blocks * 512 < size  # sparse: nothing allocated yet
    reserve(path)
    assert path.stat().st_blocks * 512 >= size
    assert np.load(path, mmap_mode="r").shape == (64, 128, 128)  # still a valid array


def test_preprocess_reserves_its_arrays_before_workers_write(
    demo_meta, demo_dir, tmp_path, monkeypatch
):
    """A disk that fills while the run goes on: the reservation fails (not a SIGBUS in a worker)."""
    import errno

    from cxr import storage

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.os, "posix_fallocate", full)
    with pytest.raises(storage.DiskFullError, match=r"train\.npy\.partial: no room to write"):
        preprocess(demo_meta, demo_dir, tmp_path / "out", PreprocessConfig(size=64, workers=1))


@pytest.mark.parametrize("size", [64, 128, 224])
def test_clahe_clip_changes_the_arrays_at_every_size(nih_dir, size):
    # On 8x8 tiles of a 64-px image, OpenCV clipped every limit below 8 to the same
    # histogram: 0.5, 1, 3 and 7.9 gave the bytes of 2.0.
    path = sorted((nih_dir / "sample" / "images").glob("*.png"))[0]
    at = {
        clip: prepare_arrays(path, PreprocessConfig(size=size, clahe_clip=clip))[0][0]
        for clip in (0.5, 1.0, 2.0, 3.0, 7.9)
    }
    plain = prepare_arrays(path, PreprocessConfig(size=size, clahe=False))[0][0].astype(int)
    for clip in (0.5, 1.0, 3.0, 7.9):
        changed = (at[clip] != at[2.0]).mean()
        assert changed > 0.05, f"clip {clip} vs 2.0 at {size} px: {changed:.1%} of pixels differ"
    # A higher clip equalises harder: further from the unenhanced image.
    moved = [float(np.abs(at[c] - plain).mean()) for c in sorted(at)]
    assert moved == sorted(moved) and moved[0] > 1


def test_clahe_leaves_the_padding_black_and_the_geometry_alone(nih_dir, tmp_path):
    gray = cv2.imread(str(sorted((nih_dir / "sample" / "images").glob("*.png"))[0]), 0)
    wide = gray[:700]  # 1024 x 700: padded top and bottom in a square
    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), wide)
    for size in (64, 224):
        (plain,), geom_plain = prepare_arrays(path, PreprocessConfig(size=size, clahe=False))
        (enhanced,), geom = prepare_arrays(path, PreprocessConfig(size=size))
        assert geom == geom_plain
        content_h = round(700 * size / 1024)
        top = (size - content_h) // 2
        assert enhanced[:top].max() == 0 and enhanced[top + content_h :].max() == 0
        assert enhanced[top : top + content_h].min() < 30 < enhanced[top : top + content_h].max()
        assert (enhanced[top : top + content_h] != plain[top : top + content_h]).mean() > 0.5
