#!/usr/bin/env bash
# The checks and figures that need a CUDA GPU, in one run (bench/README.md, "On a GPU").
#   bash bench/gpu_checks.sh DATA_ROOT OUT_DIR
# DATA_ROOT holds celeba/img_align_celeba; results land in OUT_DIR.
set -uo pipefail
data=${1:?data root}
out=${2:?output folder}
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$out"
$py -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
$py -m pytest -q -p no:cacheprovider tests/test_canvas.py tests/test_painter.py -k "gpu" 2>&1 | tail -4
timeout 180 $py -m bench.canvas_throughput --device cuda --strokes 2048 --compile --out "$out/canvas_throughput_cuda.json"
timeout 120 $py -m bench.paint_table --checkpoint glimpse/weights/painter_celeba.pt --data-root "$data" \
    --device cuda --out "$out/paint_table_cuda.json"
timeout 120 $py -m train.paint --dataset celeba --data-root "$data" --device cuda --steps 6 --tbptt 6 --epochs 1 \
    --compile --no-progress --out /tmp/paint-gpu-30
cp /tmp/paint-gpu-30/metrics.jsonl "$out/paint_gpu_30_metrics.jsonl" 2>/dev/null
cp /tmp/paint-gpu-30/results.json "$out/paint_gpu_30_results.json" 2>/dev/null
