#!/usr/bin/env bash
# One run on a lent GPU that times training and drives every CUDA code path once.
#
#   1. bench/train_throughput.py, bf16 + channels_last, with and without torch.compile:
#      the bare torchvision DenseNet121 step on synthetic tensors, and the dual path
#      with detail end to end from uint8 memmaps (224 px + 448 px detail), interleaved
#      in one process; then the ratio of the two (dual path / bare).
#   2. bench/train_memory.py: the peak memory of a training step per image, for
#      densenet121, the dual path and the dual path with detail, in bf16 and fp32, with
#      and without model.memory_efficient, and its speed cost.
#   3. The demo pipeline once on the device, in a scratch folder: demo, ingest,
#      preprocess (with a detail array), one epoch of train (the dual path with detail,
#      compile on), evaluate, explain, the external set and `cxr predict` with GradCAM overlays. bf16,
#      channels_last, compile, pinned copies and GradCAM on the device have then all run.
#
# Everything lands in --out: throughput.json, ratio.json, memory.json, pipeline.json (seconds and
# exit status per step, the metrics the stages wrote) and the stage logs.
#
# Usage (GPU):  bash bench/gpu_check.sh --out "$OUT"                 (about 5 minutes)
# Usage (CPU):  bash bench/gpu_check.sh --device cpu --tiny --no-compile --out /tmp/check
#               (what tests/test_gpu_check.py runs: tiny sizes, the same steps)
set -euo pipefail
cd "$(dirname "$0")/.."

device=cuda
tiny=0
compile=1
out=bench/results/gpu_check
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device=$2; shift 2 ;;
        --tiny) tiny=1; shift ;;
        --no-compile) compile=0; shift ;;
        --out) out=$2; shift 2 ;;
        *) echo "usage: bash bench/gpu_check.sh [--device cuda|cuda:N|cpu] [--tiny] [--no-compile] [--out DIR]" >&2
           exit 2 ;;
    esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -d .venv ] && . .venv/bin/activate
python - "$device" <<'EOF'
import sys, torch
device = sys.argv[1]
if device.startswith("cuda") and not torch.cuda.is_available():
    raise SystemExit(f"error: --device {device}, but torch sees no CUDA device; use --device cpu")
name = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "cpu"
print(f"gpu_check: torch {torch.__version__} on {name}")
EOF

if [ "$tiny" = 1 ]; then
    size=32 detail=64 batch=4 steps=1 warmup=1 repeats=1 workers=0
    demo_images=48 demo_size=64 demo_array=32 demo_detail=64 bootstrap=0 demo_external=50
    gallery=1 predict_files=8  # a gallery image per kind; predict (with GradCAM) on 8 files
    memory=(--archs densenet121 --precisions auto --batches 2,4 --steps 1)
else  # NIH's sizes for the timings; the demo's own (64 + 128 px) for the pipeline
    size=224 detail=448 batch=128 steps=20 warmup=10 repeats=3 workers=4
    demo_images=3000 demo_size=128 demo_array=64 demo_detail=128 bootstrap=200 demo_external=1000
    gallery=4 predict_files=0  # 0: every demo image
    memory=(--batches 16,32 --steps 10)
fi
precisions="bf16+cl"
[ "$compile" = 1 ] && precisions="bf16+cl,bf16+cl+compile"

# 1. Throughput: the bare step and the dual path with detail, in one process.
python bench/train_throughput.py --device "$device" --archs dualpath-detail \
    --size "$size" --detail-size "$detail" --batch "$batch" --steps "$steps" \
    --warmup "$warmup" --repeats "$repeats" --workers "$workers" \
    --precisions "$precisions" --out "$out/throughput.json" 2>&1 | tee "$out/throughput.log"
python - "$out" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
runs = json.loads((out / "throughput.json").read_text())["runs"]
ratio = {
    r["precision"]: {
        "bare_densenet121_img_per_s": r["bare_torchvision"],
        "dualpath_detail_end_to_end_img_per_s": r["dualpath-detail/end_to_end"],
        "dualpath_detail_synthetic_img_per_s": r["dualpath-detail/synthetic"],
        "dualpath_over_bare": round(r["dualpath-detail/end_to_end"] / r["bare_torchvision"], 3),
    }
    for r in runs
}
(out / "ratio.json").write_text(json.dumps(ratio, indent=2) + "\n")
print(json.dumps(ratio, indent=2))
EOF

# 2. Memory per image of a training step, and what memory_efficient saves and costs.
python bench/train_memory.py --device "$device" --size "$size" --detail-size "$detail" \
    "${memory[@]}" --out "$out/memory.json" 2>&1 | tee "$out/memory.log"

# 3. The demo pipeline on the device, in a scratch folder (the repository stays untouched).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
compile_flag=$([ "$compile" = 1 ] && echo true || echo false)
cat > "$work/params.yaml" <<EOF
demo: {images: $demo_images, size: $demo_size, seed: 0, external_images: $demo_external, third_images: 0}
ingest: {raw_dir: data/raw/demo, val_fraction: 0.2, test_fraction: 0.25}
preprocess: {size: $demo_array, detail_size: $demo_detail}
model: {arch: dualpath, weights: none, local_detail: true}
train: {epochs: 1, device: "$device", compile: $compile_flag, workers: $workers}
evaluate: {device: "$device", bootstrap: $bootstrap}
explain: {device: "$device", bootstrap: $bootstrap, gallery_per_kind: $gallery}
external: {device: "$device", bootstrap: $bootstrap}
EOF
steps_json="$out/pipeline_steps.jsonl"
: > "$steps_json"
step() {  # step NAME COMMAND...: run in the scratch folder, time it, record its status
    local name=$1; shift
    local t0 rc=0
    t0=$(date +%s.%N)
    (cd "$work" && "$@") > "$out/$name.log" 2>&1 || rc=$?
    python -c "import json, sys; print(json.dumps({'step': sys.argv[1], 'rc': int(sys.argv[2]), 'seconds': round(float(sys.argv[4]) - float(sys.argv[3]), 2)}))" \
        "$name" "$rc" "$t0" "$(date +%s.%N)" >> "$steps_json"
    echo "gpu_check: $name exit $rc"
    [ "$rc" = 0 ] || { tail -n 30 "$out/$name.log" >&2; return "$rc"; }
}
for stage in check-params demo ingest preprocess train evaluate explain; do
    step "$stage" cxr "$stage"
done
step external cxr external demo_hospital   # the demo's second hospital, scored on the device
if [ "$predict_files" = 0 ]; then
    to_predict=data/raw/demo/images
else
    (cd "$work" && ls data/raw/demo/images/*.png | head -n "$predict_files") > "$work/predict.txt"
    to_predict="@$work/predict.txt"
fi
step predict cxr predict "$to_predict" --device "$device" --out "$work/predict.csv" --cam "$work/cams"
python - "$out" "$work" <<'EOF'
import json, sys
from pathlib import Path
import pandas as pd
out, work = Path(sys.argv[1]), Path(sys.argv[2])
steps = [json.loads(line) for line in (out / "pipeline_steps.jsonl").read_text().splitlines()]
metrics = {p.stem: json.loads(p.read_text()) for p in sorted((work / "metrics").glob("*.json"))}
predicted = pd.read_csv(work / "predict.csv")
probs = predicted.filter(like="p_")
summary = {
    "steps": steps,
    "metrics": metrics,
    "external": json.loads((work / "metrics/external/demo_hospital.json").read_text()),
    "predict": {
        "rows": len(predicted),
        "errors": int((predicted["error"].fillna("") != "").sum()),
        "probability_columns": len(probs.columns),
        "probabilities_in_0_1": bool(((probs >= 0) & (probs <= 1)).all().all()),
        "cam_files": len(list((work / "cams").rglob("*.png"))),
    },
}
(out / "pipeline.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps({"steps": steps, "predict": summary["predict"]}, indent=2))
EOF
echo "gpu_check: done; results in $out"
