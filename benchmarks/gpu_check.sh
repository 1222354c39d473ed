#!/usr/bin/env bash
# One prepared run of every check that needs a GPU (issue #5), for a machine with CUDA.
#
#   OUT=gpu-check bash benchmarks/gpu_check.sh            # from the repository root
#   QUICK=1 OUT=/tmp/gpu-check bash benchmarks/gpu_check.sh   # tiny sizes: dry run on a CPU
#   ONLY="device throughput_compile" bash benchmarks/gpu_check.sh  # some steps only
#
# It needs only torch, torchvision, numpy, pillow, scipy, tqdm and pytest (no SimpleITK,
# grad-cam, jupytext or papermill), and imports hrcam from the checkout (no install). Steps,
# each logged to $OUT/<step>.txt, all run even when one fails; the exit status counts
# failures:
#
# 1. nvidia-smi and torch's view of the device;
# 2. benchmarks/train_throughput.py with the CUDA defaults (DenseNet-121 at 224 px, batch
#    256, bf16 + channels_last) and --compile: real pipeline vs ceiling (target >= 0.9),
#    the loader alone, the paper-scale estimate; JSON in $OUT/throughput_compile.json;
# 3. the same without --compile (eager), for the compile speed-up;
# 4. the CUDA tests: GPU augmentation vs CPU, bf16/channels_last model paths, the no-grad
#    inference path, compile;
# 5. one short end-to-end `hrcam train classifier` + `hrcam train expansion` on CUDA through
#    torchrun (NCCL, one process), then a rerun that must resume and do nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
failures=0

step() {  # step NAME COMMAND...: run, log to $OUT/NAME.txt, count a failure
    local name=$1
    shift
    if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then
        return 0
    fi
    echo "== $name: $*"
    local started=$SECONDS
    if "$@" >"$OUT/$name.txt" 2>&1; then
        echo "   ok in $((SECONDS - started)) s"
    else
        echo "   FAILED (status $?) in $((SECONDS - started)) s; last lines:"
        tail -n 15 "$OUT/$name.txt" | sed 's/^/   | /'
        failures=$((failures + 1))
    fi
}

if [ "${QUICK:-0}" = 1 ]; then
    SIZE=(--image-size 32 --batch-size 8 --steps 2 --warmup 1 --num-classes 3)
    DATA_ARGS=(--num-train 64 --num-val 16 --image-size 32 --num-classes 3)
    TRAIN_ARGS=(--epochs 1 --batch-size 8)
    ARCH=densenet_compact
else
    SIZE=()
    DATA_ARGS=(--num-train 4096 --num-val 512 --image-size 224 --num-classes 8)
    TRAIN_ARGS=(--epochs 1 --batch-size 128 --max-train-batches 16)
    ARCH=densenet121
fi

step device sh -c "nvidia-smi || true; $PY -c 'import torch; print(torch.__version__, \
torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"no CUDA\")'"
step throughput_compile "$PY" benchmarks/train_throughput.py --compile "${SIZE[@]}" \
    --json "$OUT/throughput_compile.json"
step throughput_eager "$PY" benchmarks/train_throughput.py "${SIZE[@]}" \
    --json "$OUT/throughput_eager.json"
step cuda_tests "$PY" -m pytest -q -p no:cacheprovider \
    tests/data/test_augment_data.py tests/models/test_models_amp.py \
    tests/models/test_models_inference_path.py tests/models/test_models_compile.py

WORK=$(mktemp -d)
step data "$PY" -m hrcam data synthetic --out "$WORK/data" --no-progress "${DATA_ARGS[@]}"
TORCHRUN=("$PY" -m torch.distributed.run --standalone --nproc-per-node 1 -m hrcam)
step train_classifier "${TORCHRUN[@]}" train classifier --data "$WORK/data" \
    --run-dir "$WORK/clf" --arch "$ARCH" --no-progress "${TRAIN_ARGS[@]}"
step train_expansion "${TORCHRUN[@]}" train expansion --data "$WORK/data" \
    --run-dir "$WORK/exp" --classifier "$WORK/clf/best.pt" --no-progress "${TRAIN_ARGS[@]}"
step resume_noop "${TORCHRUN[@]}" train expansion --data "$WORK/data" \
    --run-dir "$WORK/exp" --classifier "$WORK/clf/best.pt" --no-progress "${TRAIN_ARGS[@]}"
cp "$WORK/clf/metrics.csv" "$OUT/classifier_metrics.csv" 2>/dev/null
cp "$WORK/exp/metrics.csv" "$OUT/expansion_metrics.csv" 2>/dev/null
rm -rf "$WORK"

echo "== summary"
grep -h -E "ceiling|classifier |expansion |loader alone|paper-scale" \
    "$OUT/throughput_compile.txt" "$OUT/throughput_eager.txt" 2>/dev/null
echo "$failures step(s) failed; logs in $OUT/"
exit "$failures"
