set -e
# docs/saliency.md, "SSL initialisation with the CRF": the recommended photo command (`--crf on`,
# refined labels) with and without `--init`. Run in an empty folder with bgaug-saliency[crf] installed.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
SEEDS=${SEEDS:-0}
[ -d synth ] || python -m bgaug.core synth --out synth --seed 0 --pretrain-per-class 100 --train-per-class 2 --val-per-class 20 --quiet
[ -f eval_dsr.json ] || { python -m bgaug.saliency handcrafted --method dsr --images synth/val --out bank_dsr --soft-maps >/dev/null 2>&1;
  python -m bgaug.saliency eval --pred bank_dsr --gt synth/masks/val --json eval_dsr.json >/dev/null 2>&1; }
[ -f ssl_moco/backbone.pt ] || /usr/bin/time -f "pretrain %e s" bgaug pretrain --method moco_v2 --bg-aug none --recipe cpu --arch resnet10_w16 --small-stem --image-size 32 \
   --batch-size 128 --epochs 120 --data synth/pretrain --out ssl_moco --workers 0 2>&1 | grep -v "step/s" | tail -3
for seed in $SEEDS; do
  for arm in ${ARMS:-ssl rand}; do
    init=""; [ $arm = ssl ] && init="--init ssl_moco/backbone.pt"
    [ -f eval_${arm}_crf_s$seed.json ] && continue
    /usr/bin/time -f "fit $arm crf s$seed %e s" python -m bgaug.saliency fit --images synth/pretrain --gt synth/masks/pretrain --out det_${arm}_crf_s$seed.pt --overwrite \
      --preset quick --rounds 1 --epochs-per-round 30 --phase2-epochs 30 --crf on --seed $seed --workers ${WORKERS:-2} --json fit_${arm}_crf_s$seed.json $init 2>&1 | grep -v "it/s\]" | tail -2
    rm -rf bank_${arm}_crf_s$seed
    python -m bgaug.saliency predict --checkpoint det_${arm}_crf_s$seed.pt --images synth/val --out bank_${arm}_crf_s$seed --soft-maps >/dev/null 2>&1
    python -m bgaug.saliency eval --pred bank_${arm}_crf_s$seed --gt synth/masks/val --json eval_${arm}_crf_s$seed.json >/dev/null 2>&1
    python -c "import json;f=json.load(open('fit_${arm}_crf_s$seed.json'));e=json.load(open('eval_${arm}_crf_s$seed.json'));print('$arm crf s$seed train', round(f['detector']['max_f'],3), 'val', round(e['max_f'],3))"
  done
done
python -c "import json;print('dsr val', json.load(open('eval_dsr.json'))['max_f'])"
