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

# @@STEP2@@ (labelling from strokes: issue 3)
# @@STEP3-5@@ (retile, retrain, evaluate tiles: issue 4)
# @@STEP6-7@@ (hybrid segmentation and pixel evaluation: issue 5)
# @@STEP8@@ (Method 2, fully convolutional network: issue 6)

echo
echo "== summary"
echo "train images: $(ls demo_data/train | grep -ci -E '\.(jpg|jpeg|png|tif|tiff)$')  test images: $(ls demo_data/test | grep -ci -E '\.(jpg|jpeg|png|tif|tiff)$')"
echo "label files copied: $(ls demo_data/train/*_mres.mat demo_data/test/*_mres.mat | wc -l)"
# @@SUMMARY@@
echo "all outputs are in demo_run/"
