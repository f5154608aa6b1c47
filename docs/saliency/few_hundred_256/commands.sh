set -e
# docs/saliency.md, "A folder of a few hundred images": 162 256-px synthetic scenes to fit on, 180 held out.
# Run in an empty folder with bgaug-saliency[crf] installed. Every command ran on one thread
# (OMP_NUM_THREADS=1, --workers 1), two at a time on the 2-core dev VM.
export OMP_NUM_THREADS=1
python -m bgaug.core synth --out synth --seed 0 --image-size 256 --pretrain-per-class 18 --train-per-class 2 --val-per-class 20 --quiet
# the hand-crafted baselines on the held-out scenes (soft maps, scored by maxF)
for m in dsr mc rbd mbd; do
  python -m bgaug.saliency handcrafted --method $m --images synth/val --out bank_$m --soft-maps --workers 1
  python -m bgaug.saliency eval --pred bank_$m --gt synth/masks/val --json eval_$m.json
done
# self-supervised backbones on the 162 scenes: 1 step per epoch at batch 128
for ep in 120 600 1500; do
  bgaug pretrain --method moco_v2 --bg-aug none --recipe cpu --arch resnet10_w16 --small-stem --image-size 32 \
    --batch-size 128 --epochs $ep --data synth/pretrain --out ssl_e${ep}_s32 --workers 0 --loader-workers 0
done
arm() {  # NAME [fit flags]: fit on the 162 scenes, predict the 180 held-out ones, score both
  name=$1; shift
  python -m bgaug.saliency fit --images synth/pretrain --gt synth/masks/pretrain --out det_$name.pt --preset quick \
    --rounds 1 --epochs-per-round 30 --phase2-epochs 30 --crf on --workers 1 --json fit_$name.json "$@"
  python -m bgaug.saliency predict --checkpoint det_$name.pt --images synth/val --out bank_$name --soft-maps
  python -m bgaug.saliency eval --pred bank_$name --gt synth/masks/val --json eval_$name.json
}
# A ran at ab3b842 (before 63bc273), where the maps came from the 64-px training square;
# --handcrafted-size 64 is its equivalent at this code, up to PIL's against torch's resize.
arm A_rand_t64 --handcrafted-size 64  # (ab3b842: no flag)
arm B_rand_t400 --handcrafted-size 400
arm C_rand_t400_e100 --handcrafted-size 400 --epochs-per-round 100 --phase2-epochs 100
arm D_moco120_t400_e100 --handcrafted-size 400 --epochs-per-round 100 --phase2-epochs 100 --init ssl_e120_s32/backbone.pt
arm E_moco120_t400_e100_crops --handcrafted-size 400 --epochs-per-round 100 --phase2-epochs 100 --init ssl_e120_s32/backbone.pt --phase2-views crops
arm F_moco120_t400_pseudo_p150_crops --handcrafted-size 400 --phase2-labels pseudo --phase2-epochs 150 --init ssl_e120_s32/backbone.pt --phase2-views crops
arm G_moco600_t400_pseudo_p150_crops --handcrafted-size 400 --phase2-labels pseudo --phase2-epochs 150 --init ssl_e600_s32/backbone.pt --phase2-views crops
arm H_moco1500_t400_pseudo_p150_crops --handcrafted-size 400 --phase2-labels pseudo --phase2-epochs 150 --init ssl_e1500_s32/backbone.pt --phase2-views crops
arm I_moco600_t400_pseudo_p150 --handcrafted-size 400 --phase2-labels pseudo --phase2-epochs 150 --init ssl_e600_s32/backbone.pt
arm J_moco600_t400_e100_crops --handcrafted-size 400 --epochs-per-round 100 --phase2-epochs 100 --init ssl_e600_s32/backbone.pt --phase2-views crops
# second seeds of G and I (the fit's seed: heads, batch order, crops; the backbone is the same)
arm G_s1 --handcrafted-size 400 --phase2-labels pseudo --phase2-epochs 150 --init ssl_e600_s32/backbone.pt --phase2-views crops --seed 1
arm I_s1 --handcrafted-size 400 --phase2-labels pseudo --phase2-epochs 150 --init ssl_e600_s32/backbone.pt --seed 1
