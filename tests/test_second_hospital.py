"""The demo's second hospital: phantoms of another site in CheXpert's layout that the CheXpert
reader reads back to their true findings, with the site's shifts where they should be."""

import cv2
import numpy as np
import pandas as pd
import pytest

from cxr.demo.anatomy import Film
from cxr.demo.cohort import AP_SHARE, PREVALENCE, sample_cohort
from cxr.demo.site import NIH_LIKE, SECOND_HOSPITAL
from cxr.external.chexpert import TO_NIH, read_chexpert
from cxr.external.demo_hospital import LABEL_FILE, SECOND, THIRD, TRUTH_FILE, generate_hospital
from cxr.findings import FINDINGS


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    folder = tmp_path_factory.mktemp("second") / "hospital"
    metrics = generate_hospital(folder, 240, 64, seed=0)
    return folder, metrics


def test_the_chexpert_reader_reads_it_back_to_the_true_findings(hospital):
    folder, metrics = hospital
    raw = pd.read_csv(folder / LABEL_FILE)
    truth = pd.read_csv(folder / TRUTH_FILE).set_index("Path")
    read = read_chexpert(folder / LABEL_FILE)
    lateral = (raw["Frontal/Lateral"] == "Lateral").sum()
    assert read.exclusions() == {"lateral view (frontal views only)": lateral} and lateral > 0
    assert len(read.images) == metrics["frontal"] == len(raw) - lateral
    assert (
        read.patients <= metrics["patients"]
        and read.images.patient_id.str.match(r"patient1\d{5}$").all()
    )  # numbered apart from the NIH set's patients
    for image in read.images.image:  # every row's file is there, a JPEG at the set's size
        pixels = cv2.imread(str(folder / image), cv2.IMREAD_GRAYSCALE)
        assert pixels is not None and pixels.shape == (64, 64)
    true = truth.loc["CheXpert-v1.0/" + read.images.image]
    coded = raw.set_index("Path").loc["CheXpert-v1.0/" + read.images.image]
    for finding, column in TO_NIH.items():
        ours, real = read.images[finding].to_numpy(), true[finding].to_numpy()
        uncertain = (coded[column] == -1).to_numpy()
        assert np.isnan(ours[uncertain]).all() and uncertain.any(), finding
        assert (ours[~uncertain] == real[~uncertain]).all(), finding
        blank = coded[column].isna().to_numpy()
        assert (real[blank] == 0).all() and blank.any(), finding  # blank: a true negative
    assert metrics["uncertain_labels"] == int((raw[list(TO_NIH.values())] == -1).sum().sum())


def test_the_site_shifts_films_and_patients_and_nih_like_changes_nothing():
    draws = np.random.default_rng(3)
    film = Film.sample(np.random.default_rng(3))
    assert Film.sample(draws, NIH_LIKE) == film  # the demo's own films: the same draws
    shifted = Film.sample(np.random.default_rng(3), SECOND_HOSPITAL)
    assert shifted.mu == pytest.approx(film.mu * SECOND_HOSPITAL.exposure)
    assert shifted.noise == pytest.approx(film.noise * SECOND_HOSPITAL.noise)
    assert shifted.blur == pytest.approx(film.blur * SECOND_HOSPITAL.blur)
    assert shifted.angle_deg == film.angle_deg and shifted.gamma == film.gamma
    nih, other = sample_cohort(6000, 1), sample_cohort(6000, 1, SECOND_HOSPITAL)
    assert (nih.view == "AP").mean() == pytest.approx(AP_SHARE, abs=0.02)
    assert (other.view == "AP").mean() == pytest.approx(SECOND_HOSPITAL.ap_share, abs=0.02)
    for finding in FINDINGS:
        expected = PREVALENCE[finding] * SECOND_HOSPITAL.prevalence
        assert other[finding].mean() == pytest.approx(expected, abs=0.02), finding
    assert sample_cohort(300, 1, NIH_LIKE).equals(sample_cohort(300, 1))


def test_the_demo_stage_writes_it_beside_the_nih_set(tiny_pipeline):
    import json

    metrics = json.loads((tiny_pipeline / "metrics/demo.json").read_text())["external"]
    folder = tiny_pipeline / "data/raw/demo_external"
    read = read_chexpert(folder / LABEL_FILE)
    assert metrics["images"] == 50 and len(read.images) == metrics["frontal"]
    assert (tiny_pipeline / "data/raw/demo/Data_Entry_2017_v2020.csv").is_file()


def test_the_third_hospital_is_its_own_site_patients_and_labeller(tmp_path):
    folder = tmp_path / "third"
    metrics = generate_hospital(folder, 400, 64, seed=0, hospital=THIRD)
    raw = pd.read_csv(folder / LABEL_FILE)
    truth = pd.read_csv(folder / TRUTH_FILE)
    read = read_chexpert(folder / LABEL_FILE)
    assert read.images.patient_id.str.match(r"patient2\d{5}$").all()  # apart from the others
    second = read_chexpert(generate_hospital_folder(tmp_path, 100) / LABEL_FILE)
    assert not set(second.images.patient_id) & set(read.images.patient_id)
    assert metrics["ap_share_frontal"] == pytest.approx(THIRD.site.ap_share, abs=0.08)
    # Its labeller: more uncertain labels, negatives mostly blank, positives always written.
    coded = raw[list(TO_NIH.values())].to_numpy()
    true = truth[list(TO_NIH)].to_numpy().astype(bool)
    assert np.mean(coded == -1) == pytest.approx(THIRD.uncertain_share, abs=0.02)
    sure = coded != -1
    negatives = ~true & sure
    assert np.isnan(coded[negatives]).mean() == pytest.approx(THIRD.blank_share, abs=0.03)
    assert (coded[true & sure] == 1).all()
    assert THIRD.uncertain_share > SECOND.uncertain_share and THIRD.blank_share > SECOND.blank_share


def generate_hospital_folder(tmp_path, images):
    folder = tmp_path / "second"
    generate_hospital(folder, images, 64, seed=0, hospital=SECOND)
    return folder
