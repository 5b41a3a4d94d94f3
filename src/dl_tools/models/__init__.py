"""Everything that imports TensorFlow: backbones, TF-Hub modules, the classifier head, frozen .pb files, the FCN.

Importing this package imports nothing heavy; each module imports TensorFlow inside its functions.
"""
