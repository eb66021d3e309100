"""Published models as peers: each fed exactly what its own code feeds it (the installed
peer's transforms as the oracle, on real NIH radiographs), its outputs mapped onto the 14
findings by name with the missing ones unscored, and its weights loaded from the formats
users have, or refused with the path and what to do."""

import re

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import models

from cxr.errors import InputError
from cxr.findings import FINDINGS
from cxr.imaging.decode import read_gray8
from cxr.peers.chexnet import TRANSFORM, chexnet_peer, prepare
from cxr.peers.registry import kind_and_target, load_peer

xrv = pytest.importorskip("torchxrayvision", reason="torchxrayvision is a test dependency")


def _samples(nih_dir, n=6):
    return sorted((nih_dir / "sample" / "images").glob("*.png"))[:n]


def test_xrv_input_is_what_its_own_nih_dataset_makes(nih_dir):
    peer = load_peer("xrv:densenet121-res224-nih", random_init=True)
    transform = xrv.datasets.XRayCenterCrop(), xrv.datasets.XRayResizer(224)
    dataset = xrv.datasets.NIH_Dataset(
        imgpath=str(nih_dir / "sample" / "images"),
        csvpath=str(nih_dir / "Data_Entry_2017_v2020.csv.gz"),
        views=["*"],
        unique_patients=False,
        transform=lambda img: transform[1](transform[0](img)),
    )
    names = list(dataset.csv["Image Index"])
    compared = 0
    for path in _samples(nih_dir, 12):
        ours = peer.prepare(read_gray8(path))
        theirs = dataset[names.index(path.name)]["img"]
        assert ours.shape == theirs.shape == (1, 224, 224) and ours.dtype == np.float32
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-3)
        assert ours.min() >= -1024 and ours.max() <= 1024
        compared += 1
    assert compared == 12


def test_xrv_outputs_map_by_name_and_untrained_ones_stay_unscored():
    peer = load_peer("xrv:densenet121-res224-chex", random_init=True)
    expected = {"Atelectasis", "Consolidation", "Pneumothorax", "Edema", "Effusion",
                "Pneumonia", "Cardiomegaly"}  # fmt: skip
    assert set(peer.scored) == expected
    x = np.random.default_rng(0).uniform(-1024, 1024, (2, 1, 224, 224)).astype(np.float32)
    logits = peer.logits(x)
    with torch.inference_mode():
        raw = peer.model(torch.from_numpy(x)).numpy()  # op_threshs off: the classifier's logits
    for k, finding in enumerate(FINDINGS):
        if finding in expected:
            np.testing.assert_allclose(logits[:, k], raw[:, peer.outputs.index(finding)], atol=1e-5)
        else:
            assert np.isnan(logits[:, k]).all(), finding  # never a zero


def test_xrv_weights_load_from_a_cache_folder_and_a_missing_file_names_it(tmp_path):
    name = "densenet121-res224-nih"
    filename = xrv.models.model_urls[name]["weights_url"].rsplit("/", 1)[1]
    with pytest.raises(InputError) as missing:
        load_peer(f"xrv:{name}", xrv_cache=tmp_path)
    assert str(tmp_path / filename) in str(missing.value) and "wget" in str(missing.value)
    source = xrv.models.DenseNet(num_classes=18)  # a small weights file, as xrv saves them
    torch.save(source, tmp_path / filename)
    peer = load_peer(f"xrv:{name}", xrv_cache=tmp_path)
    for key, value in source.state_dict().items():
        assert torch.equal(peer.model.state_dict()[key], value), key
    assert peer.model.op_threshs is None and peer.provenance.nih_test_overlap.startswith("likely")


def _old_style(state: dict) -> dict:
    """A state dict as CheXNet reimplementations saved it under old torchvision."""
    out = {}
    for key, value in state.items():
        key = re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", key)
        key = key.replace("classifier.", "classifier.0.")
        out[f"module.densenet121.{key}"] = value
    return out


def test_chexnet_checkpoints_of_every_form_load_to_the_same_network(tmp_path):
    torch.manual_seed(0)
    source = models.densenet121(weights=None, num_classes=14).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        expected = source(x).numpy()
    forms = {
        "plain.pth": source.state_dict(),
        "old.pth.tar": {"epoch": 3, "state_dict": _old_style(source.state_dict())},
    }
    prints = set()
    for filename, content in forms.items():
        torch.save(content, tmp_path / filename)
        peer = load_peer(f"chexnet:{tmp_path / filename}")
        assert peer.scored == FINDINGS and peer.provenance.nih_test_overlap.startswith("unknown")
        np.testing.assert_allclose(peer.logits(x.numpy()), expected, atol=1e-5)
        prints.add(peer.fingerprint())
    assert len(prints) == 1  # the weights, not the file's format
    with torch.no_grad():
        source.classifier.bias[3] += 1e-6
    torch.save(source.state_dict(), tmp_path / "nudged.pth")
    assert load_peer(f"chexnet:{tmp_path / 'nudged.pth'}").fingerprint() not in prints


def test_chexnet_checkpoints_that_do_not_fit_are_refused_by_name(tmp_path):
    with pytest.raises(InputError, match="no such weights file"):
        load_peer(f"chexnet:{tmp_path / 'absent.pth'}")
    wide = models.densenet121(weights=None, num_classes=15).state_dict()
    torch.save(wide, tmp_path / "wide.pth")
    with pytest.raises(InputError, match=r"head is \(15, 1024\), not 14 outputs"):
        chexnet_peer(tmp_path / "wide.pth")
    extra = {
        **models.densenet121(weights=None, num_classes=14).state_dict(),
        "fc.bias": torch.zeros(1),
    }
    torch.save(extra, tmp_path / "extra.pth")
    with pytest.raises(InputError, match=r"unexpected \['fc.bias'\]"):
        chexnet_peer(tmp_path / "extra.pth")
    torch.save(models.densenet121(weights=None, num_classes=14), tmp_path / "pickled.pth")
    with pytest.raises(InputError, match=r"save model\.state_dict\(\)"):
        chexnet_peer(tmp_path / "pickled.pth")


def test_chexnet_input_is_the_reimplementations_eval_transform(nih_dir):
    # Their loaders open the file with PIL and convert it to RGB.
    for path in _samples(nih_dir):
        ours = prepare(read_gray8(path))
        theirs = TRANSFORM(Image.open(path).convert("RGB")).numpy()
        assert ours.shape == (3, 224, 224)
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_a_peer_is_named_kind_colon_target():
    assert kind_and_target("chexnet:/w/model.pth.tar") == ("chexnet", "/w/model.pth.tar")
    for bad in ("densenet121-res224-nih", "tfx:m", "xrv:"):
        with pytest.raises(InputError, match="expected xrv:<model>"):
            kind_and_target(bad)


def test_xrv_resnet_loads_its_state_dict_and_is_fed_at_512_px(tmp_path):
    name = "resnet50-res512-all"
    net = models.resnet50(weights=None, num_classes=18)
    net.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    filename = xrv.models.model_urls[name]["weights_url"].rsplit("/", 1)[1]
    torch.save(net.state_dict(), tmp_path / filename)  # as torchxrayvision ships the ResNet
    peer = load_peer(f"xrv:{name}", xrv_cache=tmp_path)
    x = peer.prepare(np.random.default_rng(0).integers(0, 256, (300, 400), dtype=np.uint8))
    assert x.shape == (1, 512, 512)
    logits = peer.logits(x[None])
    assert logits.shape == (1, 14) and np.isfinite(logits).all()  # it has all 14
    with torch.inference_mode():
        expected = net.eval()(torch.from_numpy(x[None])).numpy()[0]
    order = [peer.outputs.index(f) for f in FINDINGS]
    np.testing.assert_allclose(logits[0], expected[order], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["densenet121-res224-all", "resnet50-res512-all"])
def test_every_xrv_architecture_loads_at_seeded_random_weights(name):
    peer = load_peer(f"xrv:{name}", random_init=True)
    again = load_peer(f"xrv:{name}", random_init=True)
    assert peer.fingerprint() == again.fingerprint() and peer.weights.startswith("random")
    side = int(xrv.models.model_urls[name].get("input_resolution", 224))
    x = peer.prepare(np.random.default_rng(1).integers(0, 256, (260, 300), dtype=np.uint8))
    assert x.shape == (1, side, side)
    logits = peer.logits(x[None])
    assert logits.shape == (1, 14) and np.isfinite(logits[0, peer.columns >= 0]).all()
    first = next(iter(peer.model.state_dict().values()))
    assert first.float().std() > 0  # initialised, not zeros


def test_no_peer_may_be_named_after_the_reports_folder_readme():
    from cxr.config import PeerModel, PeersConfig

    with pytest.raises(InputError, match="README"):
        PeersConfig(models=(PeerModel(name="readme"),))


def test_xrv_reads_a_dicom_as_its_own_dataset_classes_do(nih_dir, tmp_path):
    from tests.test_decode import dicom_bytes

    peer = load_peer("xrv:densenet121-res224-nih", random_init=True)
    # RSNA's and SIIM's files: 8-bit copies of NIH's PNGs, which xrv's RSNA and SIIM datasets
    # read as stored pixels over 255, just as its NIH dataset reads the PNG.
    for path in _samples(nih_dir, 3):
        png = read_gray8(path)
        dicom = tmp_path / f"{path.stem}.dcm"
        dicom.write_bytes(dicom_bytes(png, bits=8))
        from_png = peer.prepare(png)
        for source in ("rsna", "siim"):
            np.testing.assert_array_equal(peer.load(dicom, source), from_png)
    # Any other DICOM as its VinDr dataset reads one: modality LUT, window, MONOCHROME1
    # inverted, over the bit depth; its own dataset class is the oracle.
    rng = np.random.default_rng(0)
    twelve = (rng.random((96, 80)) * 4095).astype(np.uint16)
    (tmp_path / "a.dicom").write_bytes(dicom_bytes(twelve, "MONOCHROME1", window=(2000, 3000)))
    (tmp_path / "vindr.csv").write_text("image_id,class_name,rad_id\na,No finding,R1\n")
    transform = xrv.datasets.XRayCenterCrop(), xrv.datasets.XRayResizer(224)
    dataset = xrv.datasets.VinDr_Dataset(
        imgpath=str(tmp_path), csvpath=str(tmp_path / "vindr.csv"),
        transform=lambda img: transform[1](transform[0](img)),
    )  # fmt: skip
    theirs = dataset[0]["img"]
    ours = peer.load(tmp_path / "a.dicom", "vindr")
    assert ours.shape == theirs.shape == (1, 224, 224)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-3)
    # Not cxr's decoder: that one maps the window to 0..255 first.
    assert np.abs(ours - peer.prepare(read_gray8(tmp_path / "a.dicom"))).max() > 1


def test_a_peer_trained_on_a_data_set_is_flagged_on_it_and_only_there():
    from cxr.external.formats import FORMATS
    from cxr.peers.chexnet import PROVENANCE as CHEXNET
    from cxr.peers.scoring import training_overlap
    from cxr.peers.xrv import PROVENANCE

    chex = PROVENANCE["densenet121-res224-chex"]
    assert "CheXpert" in training_overlap(chex, FORMATS["chexpert"])
    assert training_overlap(chex, FORMATS["padchest"]) is None
    assert training_overlap(chex, FORMATS["rsna"]) is None  # never saw NIH's films
    nih = PROVENANCE["densenet121-res224-nih"]
    assert "NIH" in training_overlap(nih, FORMATS["siim"])  # SIIM's films are NIH's
    assert training_overlap(nih, FORMATS["vindr"]) is None
    assert "MIMIC" in training_overlap(PROVENANCE["densenet121-res224-mimic_ch"], FORMATS["mimic"])
    resnet = PROVENANCE["resnet50-res512-all"]  # pc-nih-rsna-siim-vin, as xrv describes it
    assert all(training_overlap(resnet, FORMATS[f]) for f in ("padchest", "rsna", "siim", "vindr"))
    assert training_overlap(resnet, FORMATS["chexpert"]) is None
    assert training_overlap(CHEXNET, FORMATS["rsna"])  # any NIH-trained checkpoint
    known = {f.dataset for f in FORMATS.values()} | {"nih", "google", "openi"}
    assert all(p.datasets and p.datasets <= known for p in [*PROVENANCE.values(), CHEXNET])
    # torchxrayvision's own description of the two "all" models, word for word.
    described = {n: xrv.models.model_urls[n].get("description", "") for n in PROVENANCE}
    assert "nih-pc-chex-mimic_ch-google-openi-rsna" in described["densenet121-res224-all"]
    assert "pc-nih-rsna-siim-vin" in described["resnet50-res512-all"]
