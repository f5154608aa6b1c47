set -e
# docs/saliency.md, "A folder of a few hundred images", the view-size seeds under row M: row G's
# command with the backbone pretrained on 64-px views instead of 32 px. Seed s sets both the
# pretraining's and the fit's seed, as in ../bg_aug_init, whose `none` runs are the 32-px counterparts.
# Run in an empty folder with bgaug-saliency and bgaug-launch installed, at 6b113c3 or later.
# 2026-12-08, the 2-core dev VM: every command on one thread (OMP_NUM_THREADS=1, --workers 1), two at
# a time, beside other work (a CI run, tests), so wall times are not comparable. The JSON was written
# under v64/ and copied here; ssl_*_run.json is each pretraining's run.json.
export OMP_NUM_THREADS=1
HERE=$(dirname "$0")
python -m bgaug.core synth --out synth --seed 0 --image-size 256 --pretrain-per-class 18 --train-per-class 2 --val-per-class 20
python "$HERE/../predict_crf/make_blended.py" synth blend 0
arm() {  # STAND-IN SEED: 600 MoCo-v2 steps at 64-px views, then row G's fit, predict held out, score
  data=$1; seed=$2; name=${data}_v64_s$seed
  bgaug pretrain --method moco_v2 --bg-aug none --recipe cpu --arch resnet10_w16 --small-stem \
    --image-size 64 --batch-size 128 --epochs 600 --data $data/pretrain --out ssl_$name --workers 0 --loader-workers 0 \
    --seed $seed
  python -m bgaug.saliency fit --images $data/pretrain --gt $data/masks/pretrain --out $name.pt --preset quick \
    --phase2-labels pseudo --phase2-epochs 150 --phase2-views crops --init ssl_$name/backbone.pt --workers 1 \
    --seed $seed --json fit_$name.json
  python -m bgaug.saliency predict --checkpoint $name.pt --images $data/val --out bank_$name --soft-maps --workers 1
  python -m bgaug.saliency eval --pred bank_$name --gt $data/masks/val --json eval_$name.json
}
for seed in 0 1; do arm blend $seed; arm synth $seed; done
