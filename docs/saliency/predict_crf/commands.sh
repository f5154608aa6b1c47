set -e
# docs/saliency.md, "Dense CRF at prediction time" and the working-size rows of "A folder of a few
# hundred images". Run in an empty folder with bgaug-saliency[crf] installed, at 5a68376 or later.
# Every command ran on one thread (OMP_NUM_THREADS=1, --workers 1), two at a time on the 2-core dev VM.
# The fits of L96 and K128 ran at 2357906 (phase-II crop boxes drawn per image, as at fbca893), the
# others at 0e21998 (boxes from core.crop_params); `predict --crf on` at 5a68376.
# synth_eval_{mc,rbd,mbd}.json are docs/saliency/few_hundred_256/eval_{mc,rbd,mbd}.json (same scenes).
export OMP_NUM_THREADS=1
HERE=$(dirname "$0")
python -m bgaug.core synth --out synth --seed 0 --image-size 256 --pretrain-per-class 18 --train-per-class 2 --val-per-class 20
python "$HERE/make_blended.py" synth blend 0
for data in synth blend; do
  for m in dsr mc rbd mbd; do
    python -m bgaug.saliency handcrafted --method $m --images $data/val --out ${data}_bank_$m --soft-maps --workers 1
    python -m bgaug.saliency eval --pred ${data}_bank_$m --gt $data/masks/val --json ${data}_eval_$m.json
  done
done
pretrain() {  # DATA VIEW_SIZE OUT: 600 MoCo-v2 steps on the 162 scenes
  bgaug pretrain --method moco_v2 --bg-aug none --recipe cpu --arch resnet10_w16 --small-stem --image-size $2 \
    --batch-size 128 --epochs 600 --data $1/pretrain --out $3 --workers 0 --loader-workers 0
}
pretrain synth 32 synth_ssl_s32
pretrain synth 64 synth_ssl_s64
pretrain blend 32 blend_ssl_s32
arm() {  # DATA NAME INIT [fit flags]: fit (row G's settings), predict held out without and with the CRF, score
  data=$1; name=$2; init=$3; shift 3
  python -m bgaug.saliency fit --images $data/pretrain --gt $data/masks/pretrain --out $name.pt --preset quick \
    --phase2-labels pseudo --phase2-epochs 150 --phase2-views crops --init $init/backbone.pt --workers 1 --json fit_$name.json "$@"
  for crf in off on; do
    python -m bgaug.saliency predict --checkpoint $name.pt --images $data/val --out bank_${name}_$crf --soft-maps --crf $crf --workers 1
    python -m bgaug.saliency eval --pred bank_${name}_$crf --gt $data/masks/val --json eval_${name}_crf$crf.json
  done
}
arm synth G64 synth_ssl_s32
arm synth G64_s1 synth_ssl_s32 --seed 1
arm synth L96 synth_ssl_s32 --image-size 96
arm synth K128 synth_ssl_s32 --image-size 128
arm synth M64_ssl64 synth_ssl_s64
arm blend blend_G64 blend_ssl_s32
arm blend blend_G64_s1 blend_ssl_s32 --seed 1
# phase-II length (a later --phase2-epochs overrides the arm's 150)
arm synth G64_p300 synth_ssl_s32 --phase2-epochs 300
arm synth G64_p300_s1 synth_ssl_s32 --phase2-epochs 300 --seed 1
arm synth G64_p600 synth_ssl_s32 --phase2-epochs 600
arm blend blend_G64_p300 blend_ssl_s32 --phase2-epochs 300
arm blend blend_G64_p300_s1 blend_ssl_s32 --phase2-epochs 300 --seed 1
arm blend blend_G64_p600 blend_ssl_s32 --phase2-epochs 600
# the hand-crafted maps through the same CRF (crf_at_working_size), for comparison
python "$HERE/crf_on_a_bank.py" synth_bank_dsr synth/val synth/masks/val > crf_on_a_bank_synth_dsr.json
python "$HERE/crf_on_a_bank.py" blend_bank_dsr blend/val blend/masks/val > crf_on_a_bank_blend_dsr.json
