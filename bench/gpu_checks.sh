#!/usr/bin/env bash
# The checks and figures that need a CUDA GPU, in one run (bench/README.md, "On a GPU").
#   bash bench/gpu_checks.sh DATA_ROOT OUT_DIR
# DATA_ROOT holds MNIST/raw (and, for the painter's table, celeba/img_align_celeba); results land
# in OUT_DIR. Each step has its own time limit, so that one slow step cannot eat the others.
set -uo pipefail
data=${1:?data root}
out=${2:?output folder}
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$out"
$py -c "import torch, os; print('torch', torch.__version__, torch.cuda.get_device_name(), os.cpu_count(), 'cores')"

# 1. The CUDA tests: canvas, painter, and every environment id on the GPU against the CPU.
timeout 200 $py -m pytest -q -p no:cacheprovider tests/test_canvas.py tests/test_painter.py tests/test_envs.py \
    -k "gpu or cuda" 2>&1 | tail -6

# 2. Batched environments on the GPU against SyncVectorEnv (CPU) at N = 256; then outputs kept on
#    the GPU (torch_obs), and large N for the batched side alone.
timeout 100 $py -m bench.env_speed --data-root "$data" --device cuda --out "$out/env_speed_cuda.json"
timeout 45 $py -m bench.env_speed --data-root "$data" --device cuda --torch-obs --no-sync \
    --out "$out/env_speed_cuda_torch.json"
timeout 45 $py -m bench.env_speed --data-root "$data" --device cuda --torch-obs --no-sync --num-envs 4096 \
    --out "$out/env_speed_cuda_torch_4096.json"
timeout 90 $py -m bench.env_speed --data-root "$data" --device cuda --torch-obs --no-sync --only Paint --compile \
    --out "$out/env_speed_cuda_torch_compiled.json"
#    painting at compile=True on both sides: Triton on the GPU against single envs with the C kernel
timeout 120 $py -m bench.env_speed --data-root "$data" --device cuda --torch-obs --only Paint --compile \
    --out "$out/env_speed_cuda_compiled_vs_ckernel.json"

# 3. Every training script on the GPU, briefly: the device path end to end, and images/s.
short="--device cuda --no-progress --data-root $data"
timeout 80 $py -m train.ram --dataset cluttered60 --what-net conv --what-size 256 --glimpse-out 512 --hidden 512 \
    --epochs 2 --train-limit 20000 $short --out /tmp/gpu-ram
timeout 50 $py -m train.soft --dataset cluttered60 --scales 3 --epochs 1 --train-limit 20000 $short --out /tmp/gpu-soft
timeout 50 $py -m train.cnn --dataset cluttered60 --epochs 1 --train-limit 20000 $short --out /tmp/gpu-cnn
timeout 50 $py -m train.draw --steps 16 --read-n 5 --write-n 5 --epochs 1 --train-limit 10000 $short --out /tmp/gpu-draw
for m in ram soft cnn draw; do
    cp "/tmp/gpu-$m/metrics.jsonl" "$out/train_${m}_metrics.jsonl" 2>/dev/null
done

# 4. The painter's test table on the GPU, where CelebA is present.
if [ -d "$data/celeba/img_align_celeba" ]; then
    timeout 120 $py -m bench.paint_table --checkpoint glimpse/weights/painter_celeba.pt --data-root "$data" \
        --device cuda --out "$out/paint_table_cuda.json"
fi
