"""The Gradio app behind ``cxr serve``: upload a radiograph, read its findings, see GradCAM.

Everything goes through :class:`cxr.inference.Predictor`, the same path as
``cxr predict`` and the evaluate stage. Errors a user can cause (a non-image,
a file over the size cap, an unsupported DICOM) come back as a message, not
a stack trace.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cxr.explain.gallery import Cell, overlay
from cxr.guard.guard import Verdict
from cxr.imaging.decode import DecodeError
from cxr.inference import IMAGE_SUFFIXES, Predictor, Views

CAVEAT = (
    "**Research tool, not a diagnosis.** The probabilities come from a model trained on "
    "NIH ChestX-ray14 (text-mined labels) or on synthetic demo data; it has not been "
    "validated for clinical use. Never base a decision about a patient on it."
)
#: Default upload cap: a 3,000 x 3,000 16-bit DICOM is about 18 MB.
MAX_UPLOAD_MB = 40


class UploadError(ValueError):
    """An upload the app cannot read; the message is shown to the user."""


def findings_html(
    classes: Sequence[str], probs: np.ndarray, thresholds: np.ndarray, refused: bool = False
) -> str:
    """The findings sorted by probability: a bar each, its threshold marked, positives bold
    (none for an image the input guard ``refused``)."""
    rows = []
    for k in np.argsort(-probs, kind="stable"):
        p, t = float(probs[k]), float(thresholds[k])
        over = p >= t and not refused
        colour = "#c0392b" if over else "#7f8c8d"
        rows.append(
            f'<tr style="font-weight:{700 if over else 400}">'
            f"<td>{html.escape(classes[k])}{' &#9679;' if over else ''}</td>"
            f'<td style="text-align:right">{p:.3f}</td>'
            f'<td style="width:45%"><div style="position:relative;height:14px;'
            f'background:#ecf0f1"><div style="width:{100 * p:.1f}%;height:100%;'
            f'background:{colour}"></div><div title="threshold {t:.3f}" '
            f'style="position:absolute;left:{100 * t:.1f}%;top:-3px;width:2px;height:20px;'
            f'background:#2c3e50"></div></div></td>'
            f'<td style="text-align:right">{t:.3f}</td></tr>'
        )
    return (
        '<table class="cxr-findings" style="width:100%"><thead><tr><th>finding</th>'
        "<th>probability</th><th>(bar; line = threshold)</th><th>threshold</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        "<p>&#9679; bold: at or over the threshold chosen on validation.</p>"
    )


def guard_warning(verdict: Verdict | None) -> str:
    """The input guard's warning, shown above the findings ("" for an accepted image)."""
    if verdict is None:
        return (
            '<p class="cxr-guard" style="color:#7f8c8d">No input guard was fitted for this '
            "model: the upload is read as a frontal chest radiograph, whatever it is.</p>"
        )
    reason = str(verdict.reasons[0])
    if not reason:
        return ""
    return (
        '<div class="cxr-guard" style="border:2px solid #c0392b;padding:8px;margin-bottom:8px">'
        f"<b>I cannot judge this image: {html.escape(reason)}.</b> The model reads frontal "
        "chest radiographs like its training data; its probabilities below are shown for "
        "inspection only and are not findings.</div>"
    )


def read_upload(predictor: Predictor, path: str | Path | None, max_bytes: int) -> Views:
    """The uploaded file as the model's input, or :class:`UploadError` saying what is wrong."""
    if path is None:
        raise UploadError("Upload a PNG, JPEG or DICOM radiograph first.")
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise UploadError(
            f"{path.name} is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB."
        )
    try:
        return predictor.prepare(path)
    except DecodeError as err:
        raise UploadError(f"{path.name} is not a readable radiograph: {err}") from None


def build_app(
    predictor: Predictor, examples: Sequence[str] = (), max_upload_mb: float = MAX_UPLOAD_MB
):
    """The Gradio Blocks app (gradio is imported here, so the library does not need it)."""
    import gradio as gr

    max_bytes = int(max_upload_mb * 2**20)

    def analyse(path):
        try:
            image = read_upload(predictor, path, max_bytes)
        except UploadError as err:
            raise gr.Error(str(err)) from None
        probs, verdict = predictor.assess(image)
        probs = probs[0]
        top = predictor.classes[int(np.argmax(probs))]
        refused = verdict is not None and bool(verdict.flagged[0])
        table = guard_warning(verdict) + findings_html(
            predictor.classes, probs, predictor.thresholds, refused
        )
        state = {"image": image, "probs": probs}
        return table, top, explain(top, state), state

    def explain(finding, state):
        if not state or finding not in predictor.classes:
            return None
        k = predictor.classes.index(finding)
        cam = predictor.cams(state["image"], np.array([k]))[0]
        caption = f"{finding}  p={state['probs'][k]:.3f}"
        bgr = overlay(Cell(state["image"].images[0], cam, np.zeros((0, 4)), caption))
        return bgr[..., ::-1].copy()  # RGB for the browser

    with gr.Blocks(title="cxr: chest X-ray findings", analytics_enabled=False) as app:
        gr.Markdown("# cxr: chest X-ray findings\n" + CAVEAT)
        if predictor.version_warnings:  # the outputs may not be the ones evaluated
            gr.Markdown("**Warning:** " + "; ".join(predictor.version_warnings) + ".")
        state = gr.State()
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(
                    label="Radiograph (PNG, JPEG or DICOM)",
                    file_types=list(IMAGE_SUFFIXES),
                    type="filepath",
                )
                run = gr.Button("Analyse", variant="primary")
                if examples:
                    gr.Examples(examples=[[e] for e in examples], inputs=upload)
            with gr.Column(scale=2):
                table = gr.HTML(label="Findings")
                finding = gr.Dropdown(choices=list(predictor.classes), label="GradCAM for finding")
                cam = gr.Image(label="GradCAM overlay", type="numpy")
        run.click(analyse, inputs=upload, outputs=[table, finding, cam, state], api_name="analyse")
        # .input: only a user's pick, not analyse setting the value, recomputes the map
        finding.input(explain, inputs=[finding, state], outputs=cam, api_name="explain")
    return app
