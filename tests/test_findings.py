import numpy as np
import pytest

from cxr.findings import (
    FINDINGS,
    UnknownFindingError,
    canonical_finding,
    format_finding_labels,
    parse_finding_labels,
)


def test_canonical_order_has_the_14_nih_findings():
    assert len(FINDINGS) == 14
    assert FINDINGS[0] == "Atelectasis" and FINDINGS[-1] == "Hernia"
    assert "Pleural_Thickening" in FINDINGS


def test_parse_multi_label_and_no_finding():
    y = parse_finding_labels(["Effusion|Mass", "No Finding", "Hernia"])
    assert y.dtype == np.uint8 and y.shape == (3, 14)
    assert y[0].nonzero()[0].tolist() == [FINDINGS.index("Effusion"), FINDINGS.index("Mass")]
    assert y[1].sum() == 0
    assert y[2, FINDINGS.index("Hernia")] == 1


def test_box_spelling_is_an_alias():
    assert canonical_finding("Infiltrate") == "Infiltration"


@pytest.mark.parametrize("bad", ["Effusion|Pneumonitis", "", "No Finding|Mass"])
def test_bad_label_names_the_row(bad):
    with pytest.raises(UnknownFindingError, match="image 7"):
        parse_finding_labels(["Mass", bad], lambda i: f"image {i + 6}")


def test_format_round_trips():
    texts = ["Effusion|Mass", "No Finding", "Atelectasis|Cardiomegaly|Hernia"]
    assert format_finding_labels(parse_finding_labels(texts)) == texts
