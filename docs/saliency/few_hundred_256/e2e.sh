# The recommended photo command (docs/saliency.md, row G), timed end to end on the 2 cores with nothing
# else running; run in the folder where commands.sh made synth/.
set -e
export OMP_NUM_THREADS=2
rm -rf e2e_ssl e2e_bank
/usr/bin/time -f "e2e pretrain %e s" bgaug pretrain --method moco_v2 --bg-aug none --recipe cpu --arch resnet10_w16 --small-stem \
    --image-size 32 --batch-size 128 --epochs 600 --workers 0 --loader-workers 0 --data synth/pretrain --out e2e_ssl 2>&1 | grep -v "step/s" | tail -1
/usr/bin/time -f "e2e fit %e s" python -m bgaug.saliency fit --images synth/pretrain --init e2e_ssl/backbone.pt --preset quick \
    --phase2-labels pseudo --phase2-epochs 150 --phase2-views crops --out e2e_det.pt --overwrite --json e2e_fit.json 2>&1 | grep -v "it/s\]" | tail -1
python -m bgaug.saliency predict --checkpoint e2e_det.pt --images synth/val --out e2e_bank --soft-maps >/dev/null 2>&1
python -m bgaug.saliency eval --pred e2e_bank --gt synth/masks/val --json eval_e2e.json >/dev/null 2>&1
python -c "import json;print('e2e val', round(json.load(open('eval_e2e.json'))['max_f'],3))"
