"""train_dcnn_tfhub/retrain.py: tutorial step 4, retrain the top of a pretrained network on class folders of tiles."""

from __future__ import annotations

from .common import add_seed, build_base_parser, integer, number, run, take_defaults

DESCRIPTION = """\
Train a new softmax layer on top of a pretrained image module (TF-Hub) to recognise the classes of a
folder of class subfolders (the tile_<t> folder made by retile.py). Writes ONE self-contained frozen
graph (--output_graph, input images in [0, 1] at the module's size, output the class probabilities
'final_result') and the labels file (--output_labels: the class folder names, exactly, sorted).

--tfhub_module takes a TF-Hub URL (needs internet), a folder holding a TF-Hub module, or the short name of a
local module under models/ (offline: python train_dcnn_tfhub/make_local_module.py --size 96 makes
mobilenet_v2_100_96). Module outputs ('bottlenecks') are cached in --bottleneck_dir by module and tile
content. TensorBoard logs go to a new run folder under --summaries_dir (tensorboard --logdir summaries).

example:
  python train_dcnn_tfhub/retrain.py --image_dir demo_data/train/tile_96 --tfhub_module mobilenet_v2_100_96
      --how_many_training_steps 1000 --learning_rate 0.01 --output_labels labels.txt
      --output_graph obx_mobilenetv2_96_1000_001.pb --bottleneck_dir bottlenecks --summaries_dir summaries
"""



def build_parser():
    parser = build_base_parser("retrain.py", DESCRIPTION)
    parser.add_argument("--image_dir", required=True, help="folder of class subfolders of images (tiles)")
    parser.add_argument("--tfhub_module", default="mobilenet_v2_100_96",
                        help="TF-Hub URL, module folder, or local module name (default %(default)s)")
    parser.add_argument("--how_many_training_steps", type=integer,
                        help="training steps (batches), at least 1 (default %(default)s)")
    parser.add_argument("--learning_rate", type=number, help="SGD learning rate, positive (default %(default)s)")
    parser.add_argument("--output_graph", default="output_graph.pb", help="frozen model file to write (.pb)")
    parser.add_argument("--output_labels", default="output_labels.txt", help="labels file to write")
    parser.add_argument("--bottleneck_dir", default="bottlenecks", help="cache of module outputs")
    parser.add_argument("--summaries_dir", default="summaries",
                        help="TensorBoard logs; each run gets a new subfolder, nothing is deleted")
    parser.add_argument("--testing_percentage", type=number,
                        help="percentage of tiles for the test, in [0, 100) (default %(default)s)")
    parser.add_argument("--validation_percentage", type=number,
                        help="percentage of tiles for validation, in [0, 100) (default %(default)s)")
    parser.add_argument("--eval_step_interval", type=integer, help="steps between evaluations (default %(default)s)")
    parser.add_argument("--train_batch_size", type=integer, help="tiles per training step (default %(default)s)")
    parser.add_argument("--validation_batch_size", type=integer,
                        help="balanced validation sample per evaluation, -1 = all (default %(default)s)")
    parser.add_argument("--test_batch_size", type=integer, help="test tiles, -1 = all (default %(default)s)")
    parser.add_argument("--flip_left_right", action="store_true", help="randomly mirror training tiles")
    parser.add_argument("--random_crop", type=number, help="percentage of random crop margin (default %(default)s)")
    parser.add_argument("--random_scale", type=number, help="percentage of random enlargement (default %(default)s)")
    parser.add_argument("--random_brightness", type=number,
                        help="percentage of random brightness, below 100 (default %(default)s)")
    parser.add_argument("--print_misclassified_test_images", action="store_true",
                        help="list the test tiles that were classified wrongly")
    parser.add_argument("--final_tensor_name",
                        help="name of the output (softmax) node in the .pb (default %(default)s)")
    parser.add_argument("--intermediate_store_frequency", type=integer,
                        help="also write the model every N steps, 0 = never (default %(default)s); each is a whole "
                             "model (about 9 MB with MobileNetV2)")
    parser.add_argument("--intermediate_output_graphs_dir", default="intermediate_graph",
                        help="folder of those models, intermediate_<step>.pb (default %(default)s)")
    parser.add_argument("--saved_model_dir",
                        help="also write the final model as a TensorFlow SavedModel folder (signature "
                             "serving_default: image in [0, 1] -> prediction); default: not written")
    add_seed(parser)
    from ..workflows.retrain import RetrainParams

    return take_defaults(parser, RetrainParams)


def _body(args):
    from ..workflows.retrain import RetrainParams, retrain

    params = RetrainParams(
        how_many_training_steps=args.how_many_training_steps, learning_rate=args.learning_rate,
        testing_percentage=args.testing_percentage, validation_percentage=args.validation_percentage,
        eval_step_interval=args.eval_step_interval, train_batch_size=args.train_batch_size,
        validation_batch_size=args.validation_batch_size, test_batch_size=args.test_batch_size,
        flip_left_right=args.flip_left_right, random_crop=args.random_crop, random_scale=args.random_scale,
        random_brightness=args.random_brightness,
        print_misclassified_test_images=args.print_misclassified_test_images,
        final_tensor_name=args.final_tensor_name, intermediate_store_frequency=args.intermediate_store_frequency,
        seed=args.seed)
    result = retrain(args.image_dir, args.tfhub_module, args.output_graph, args.output_labels, args.bottleneck_dir,
                     args.summaries_dir, params, saved_model_dir=args.saved_model_dir,
                     intermediate_output_graphs_dir=args.intermediate_output_graphs_dir
                     if args.intermediate_store_frequency else None)
    if params.print_misclassified_test_images:
        for path, truth, estimate in result.misclassified:
            print(f"misclassified: {path} (true {truth}, estimated {estimate})")
    if result.n_test:
        print(f"Final test accuracy = {100 * result.test_accuracy:.1f}% (N={result.n_test})")
    else:
        print("Final test accuracy = n/a (no test tiles; raise --testing_percentage)")
    print(f"model: {result.output_graph} ({result.image_size[1]}x{result.image_size[0]} px input), "
          f"labels: {result.output_labels} ({len(result.labels)} classes)")
    if result.run_dir is not None:
        print(f"TensorBoard logs: {result.run_dir}")
    if args.saved_model_dir:
        print(f"SavedModel: {args.saved_model_dir}")
    if args.intermediate_store_frequency:
        print(f"models every {args.intermediate_store_frequency} steps: {args.intermediate_output_graphs_dir}")


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
