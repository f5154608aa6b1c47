set -e
# docs/saliency.md, "SSL initialisation with background augmentations". Run in an empty folder with
# bgaug-saliency and bgaug-launch installed (no fit here uses the CRF), at 02de2e7 or later.
# 2026-12-07, the 2-core dev VM: every command on one thread (OMP_NUM_THREADS=1, --workers 1), two at
# a time. The JSON here was written under other file names and renamed to these; blend_none_s0 is the
# run of ../blend_limits (its `base`).
# ssl_*_run.json is each pretraining's run.json (final MoCo-v2 loss under metrics).
export OMP_NUM_THREADS=1
HERE=$(dirname "$0")
python -m bgaug.core synth --out synth --seed 0 --image-size 256 --pretrain-per-class 18 --train-per-class 2 --val-per-class 20
python "$HERE/../predict_crf/make_blended.py" synth blend 0
# DSR's masks of the scenes the backbones and detectors are fitted on: the backgrounds to remove or swap
python -m bgaug.saliency handcrafted --method dsr --images blend/pretrain --out blend_dsr --soft-maps --workers 1
python -m bgaug.saliency handcrafted --method dsr --images synth/pretrain --out synth_dsr --soft-maps --workers 1
arm() {  # STAND-IN AUG SEED [NAME PRETRAIN-FLAGS]: 600 MoCo-v2 steps with AUG (default: the paper's
  # p_pos 0.2, p_neg 0.2), then row G's fit
  data=$1; aug=$2; seed=$3; name=${4:-${data}_${aug}_s$seed}; shift 3; shift || true
  masks=(); [ "$aug" != none ] && masks=(--masks ${data}_dsr)
  bgaug pretrain --method moco_v2 --bg-aug $aug "${masks[@]}" --recipe cpu --arch resnet10_w16 --small-stem \
    --image-size 32 --batch-size 128 --epochs 600 --data $data/pretrain --out ssl_$name --workers 0 --loader-workers 0 \
    --seed $seed "$@"
  python -m bgaug.saliency fit --images $data/pretrain --gt $data/masks/pretrain --out $name.pt --preset quick \
    --phase2-labels pseudo --phase2-epochs 150 --phase2-views crops --init ssl_$name/backbone.pt --workers 1 \
    --seed $seed --json fit_$name.json
  python -m bgaug.saliency predict --checkpoint $name.pt --images $data/val --out bank_$name --soft-maps --workers 1
  python -m bgaug.saliency eval --pred bank_$name --gt $data/masks/val --json eval_$name.json
}
for seed in 0 1; do
  for aug in none bg_rm bg_swaps; do arm blend $aug $seed; done
done
arm blend none 2; arm blend bg_rm 2
arm blend bg_rm 0 blend_bg_rm_p05_s0 --p-pos 0.5
for seed in 0 1; do arm synth none $seed; arm synth bg_rm $seed; done
# docs/saliency.md, the view-size seeds under row M (2026-12-08, code from 6b113c3 to d94dcaf, beside
# other work, so wall times are not comparable): the backbone pretrained on 64-px views (a later
# --image-size overrides the arm's 32). JSON in ../view_size; the `none` runs above are their 32-px
# counterparts.
for seed in 0 1; do
  for data in blend synth; do arm $data none $seed ${data}_v64_s$seed --image-size 64; done
done
