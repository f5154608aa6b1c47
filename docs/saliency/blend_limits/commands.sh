set -e
# docs/saliency.md, "What holds the detector back on the blended stand-in". Run in an empty folder with
# bgaug-saliency[crf] installed, at 651a839 or later. 2026-12-07, the 2-core dev VM: every command on one
# thread (OMP_NUM_THREADS=1, --workers 1), two at a time.
export OMP_NUM_THREADS=1
HERE=$(dirname "$0")
python -m bgaug.core synth --out synth --seed 0 --image-size 256 --pretrain-per-class 18 --train-per-class 2 --val-per-class 20
python "$HERE/../predict_crf/make_blended.py" synth blend 0
for split in val pretrain; do
  for m in dsr mc rbd mbd; do
    python -m bgaug.saliency handcrafted --method $m --images blend/$split --out ${split}_banks/$m --soft-maps --workers 1
  done
done
for m in dsr mc; do  # the teachers on the scenes the detectors are fitted on
  python -m bgaug.saliency eval --pred pretrain_banks/$m --gt blend/masks/pretrain --json train_eval_$m.json
done
# what the targets carry: fused soft maps, and votes / soft mean at each training size
for s in 32 64 96 128 256; do
  python "$HERE/teacher_targets.py" blend/masks/val $s val_banks/dsr val_banks/mc val_banks/mbd val_banks/rbd > teacher_targets_val_$s.json
done
python "$HERE/teacher_targets.py" blend/masks/pretrain 64 pretrain_banks/dsr pretrain_banks/mc pretrain_banks/mbd pretrain_banks/rbd \
  > teacher_targets_train_64.json
# the same on the clean 256-px scenes (synth_teacher_targets_val_*.json)
for m in dsr mc rbd mbd; do
  python -m bgaug.saliency handcrafted --method $m --images synth/val --out synth_banks/$m --soft-maps --workers 1
done
for s in 64 256; do
  python "$HERE/teacher_targets.py" synth/masks/val $s synth_banks/dsr synth_banks/mc synth_banks/mbd synth_banks/rbd \
    > synth_teacher_targets_val_$s.json
done
pretrain() {  # ARCH OUT: 600 MoCo-v2 steps on the 162 scenes at 32-px views
  bgaug pretrain --method moco_v2 --bg-aug none --recipe cpu --arch $1 --small-stem --image-size 32 \
    --batch-size 128 --epochs 600 --data blend/pretrain --out $2 --workers 0 --loader-workers 0
}
pretrain resnet10_w16 ssl_w16
pretrain resnet10_w32 ssl_w32
arm() {  # NAME INIT [fit flags]: row G's fit, predict held out, score
  name=$1; init=$2; shift 2
  python -m bgaug.saliency fit --images blend/pretrain --gt blend/masks/pretrain --out $name.pt --preset quick \
    --phase2-labels pseudo --phase2-epochs 150 --phase2-views crops --init $init/backbone.pt --workers 1 --json fit_$name.json "$@"
  python -m bgaug.saliency predict --checkpoint $name.pt --images blend/val --out bank_$name --soft-maps --workers 1
  python -m bgaug.saliency eval --pred bank_$name --gt blend/masks/val --json eval_$name.json
}
arm base ssl_w16
arm dm ssl_w16 --methods dsr,mc
arm dmm ssl_w16 --methods dsr,mc,mbd
arm flip ssl_w16 --phase2-views flip
arm w32 ssl_w32
# DeepUSPS's phase I (one round of 100 epochs per method, the CRF), then phase II on the refined labels
# alone (row J of "A folder of a few hundred images") or on the refined and the hand-crafted ones
arm J ssl_w16 --phase2-labels refined --rounds 1 --epochs-per-round 100 --phase2-epochs 100 --crf on
arm both ssl_w16 --phase2-labels both --rounds 1 --epochs-per-round 100 --phase2-epochs 150 --crf on
for name in base dm; do  # mirror averaging at prediction time
  python -m bgaug.saliency predict --checkpoint $name.pt --images blend/val --out bank_${name}_fa --soft-maps --workers 1 --flip-average
  python -m bgaug.saliency eval --pred bank_${name}_fa --gt blend/masks/val --json eval_${name}_fa.json
done
# the detector on the scenes it was fitted on, at their 256 px
python -m bgaug.saliency predict --checkpoint base.pt --images blend/pretrain --out bank_base_train --soft-maps --workers 1
python -m bgaug.saliency eval --pred bank_base_train --gt blend/masks/pretrain --json eval_base_train.json
