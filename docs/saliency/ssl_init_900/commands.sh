set -e
# docs/saliency.md, "SSL initialisation (`fit --init`), 900 images": run in an empty folder with bgaug installed.
export OMP_NUM_THREADS=2
[ -d synth ] || python -m bgaug.core synth --out synth --seed 0 --pretrain-per-class 100 --train-per-class 2 --val-per-class 20 --quiet
[ -f eval_dsr.json ] || { python -m bgaug.saliency handcrafted --method dsr --images synth/val --out bank_dsr --soft-maps >/dev/null 2>&1;
  python -m bgaug.saliency eval --pred bank_dsr --gt synth/masks/val --json eval_dsr.json >/dev/null 2>&1; }
[ -f ssl_moco/backbone.pt ] || /usr/bin/time -f "pretrain %e s" bgaug pretrain --method moco_v2 --bg-aug none --recipe cpu --arch resnet10_w16 --small-stem --image-size 32 \
   --batch-size 128 --epochs 120 --data synth/pretrain --out ssl_moco --workers 0 2>&1 | grep -v "step/s" | tail -3
for seed in 0 1; do
  for arm in rand ssl; do
    init=""; [ $arm = ssl ] && init="--init ssl_moco/backbone.pt"
    [ -f eval_${arm}_s$seed.json ] && continue
    /usr/bin/time -f "fit $arm s$seed %e s" python -m bgaug.saliency fit --images synth/pretrain --gt synth/masks/pretrain --out det_${arm}_s$seed.pt --overwrite \
      --preset quick --phase2-labels pseudo --phase2-epochs 30 --rounds 1 --seed $seed --workers 2 --json fit_${arm}_s$seed.json $init 2>&1 | grep -v "it/s\]" | tail -2
    rm -rf bank_${arm}_s$seed
    python -m bgaug.saliency predict --checkpoint det_${arm}_s$seed.pt --images synth/val --out bank_${arm}_s$seed --soft-maps >/dev/null 2>&1
    python -m bgaug.saliency eval --pred bank_${arm}_s$seed --gt synth/masks/val --json eval_${arm}_s$seed.json >/dev/null 2>&1
    python -c "import json;f=json.load(open('fit_${arm}_s$seed.json'));e=json.load(open('eval_${arm}_s$seed.json'));print('$arm s$seed train', round(f['detector']['max_f'],3), 'val', round(e['max_f'],3))"
  done
done
python -c "import json;print('dsr val', json.load(open('eval_dsr.json'))['max_f'])"
