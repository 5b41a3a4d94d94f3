"""Everything that imports TensorFlow: backbones, TF-Hub modules, the classifier head, frozen .pb files, the FCN and
its Keras training loop, TensorBoard scalars, the random seed of a training run.

Importing this package imports nothing heavy; each module imports TensorFlow inside its functions.
"""
