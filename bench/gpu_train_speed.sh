#!/usr/bin/env bash
# GPU training speed of RAM and soft attention: eager, --amp, --compile (bench/README.md).
#   bash bench/gpu_train_speed.sh DATA_ROOT
set -uo pipefail
data=${1:?data root (MNIST/raw)}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
wide="--what-net conv --what-size 256 --glimpse-out 512 --hidden 512"
common="--dataset cluttered60 --epochs 2 --train-limit 20000 --device cuda --no-progress --data-root $data"
for flags in "" "--amp" "--compile"; do
  echo "== ram conv-wide $flags"
  timeout 80 python3 -m train.ram $common $wide $flags --out /tmp/r 2>&1 | grep -E "^epoch|Error" ; rm -rf /tmp/r
done
for flags in "" "--amp"; do
  echo "== soft 3 scales $flags"
  timeout 60 python3 -m train.soft $common --scales 3 $flags --out /tmp/s 2>&1 | grep -E "^epoch|Error"; rm -rf /tmp/s
done
echo "== draw T=16 --amp"
timeout 45 python3 -m train.draw --steps 16 --read-n 5 --write-n 5 --epochs 1 --train-limit 10000 --device cuda --no-progress --data-root $data --amp --out /tmp/d 2>&1 | grep -E "^epoch|Error"
