#!/usr/bin/env bash
# Reproduces the acceptance table in docs/saliency.md: the synthetic benchmark, the four hand-crafted
# methods, DeepUSPS2 (phase-I networks, fused detector) and the centre prior, all scored with `eval`.
# Usage: saliency/scripts/acceptance.sh OUT_DIR [DEVICE] [extra fit flags...]   (run from the repo root)
# The documented acceptance run (docs/saliency.md, "Acceptance"; needs the [crf] extra):
#   PER_CLASS=300 saliency/scripts/acceptance.sh OUT cpu --preset quick --rounds 1 --epochs-per-round 30 \
#       --phase2-epochs 30 --workers 2 --crf on
set -euo pipefail
OUT=${1:?output directory}; DEVICE=${2:-cpu}; shift $(( $# > 1 ? 2 : 1 ))
PY=${PYTHON:-python}
export PYTHONPATH=packages/core/src:saliency/src${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$OUT"
$PY -m bgaug.core synth --out "$OUT/synth" --seed 0 --pretrain-per-class "${PER_CLASS:-100}" --train-per-class 2 \
    --val-per-class "${VAL_PER_CLASS:-20}" --quiet
for m in rbd mc dsr mbd; do
  $PY -m bgaug.saliency handcrafted --method $m --images "$OUT/synth/val" --out "$OUT/bank_$m" --soft-maps >/dev/null 2>&1
  $PY -m bgaug.saliency eval --pred "$OUT/bank_$m" --gt "$OUT/synth/masks/val" --json "$OUT/eval_$m.json" >/dev/null 2>&1
done
$PY -m bgaug.saliency fit --images "$OUT/synth/pretrain" --gt "$OUT/synth/masks/pretrain" --out "$OUT/detector.pt" \
    --device "$DEVICE" --json "$OUT/fit.json" "$@" 2>&1 | grep -v "it/s\]" || true
$PY -m bgaug.saliency predict --checkpoint "$OUT/detector.pt" --images "$OUT/synth/val" --out "$OUT/bank_detector" \
    --soft-maps --device "$DEVICE" >/dev/null 2>&1
$PY -m bgaug.saliency eval --pred "$OUT/bank_detector" --gt "$OUT/synth/masks/val" --json "$OUT/eval_detector.json" >/dev/null 2>&1
$PY -m bgaug.saliency bench --checkpoint "$OUT/detector.pt" --device "$DEVICE" --json "$OUT/bench.json" >/dev/null 2>&1
$PY - "$OUT" <<'PYEOF'
import json, sys
out = sys.argv[1]
fit = json.load(open(f"{out}/fit.json"))
print("train split (pretrain, transductive):", fit["n_images"], "images; CRF:", fit.get("crf", "none"))
for m, e in fit["phase1"].items():
    line = f"  {m:4s} pseudo maxF {e['pseudo_labels']['max_f']:.3f}  binarised {e['pseudo_labels_binary']['max_f']:.3f}"
    if "network" in e:  # absent with --phase2-labels pseudo (phase I skipped)
        line += f"  phase-I net {e['network']['max_f']:.3f}  refined labels {e['refined_labels']['max_f']:.3f}"
    print(line)
print(f"  detector maxF {fit['detector']['max_f']:.3f} MAE {fit['detector']['mae']:.3f}; centre prior {fit['centre_prior']['max_f']:.3f}")
print("val split (held out):")
for m in ["rbd", "mc", "dsr", "mbd", "detector"]:
    r = json.load(open(f"{out}/eval_{m}.json"))
    print(f"  {m:8s} maxF {r['max_f']:.3f} meanF {r['mean_f']:.3f} adpF {r['adaptive_f']:.3f} MAE {r['mae']:.3f}  (centre prior maxF {r['centre_prior']['max_f']:.3f})")
print("bench", json.dumps(json.load(open(f"{out}/bench.json"))))
PYEOF
