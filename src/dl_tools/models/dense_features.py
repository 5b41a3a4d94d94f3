"""Per-pixel features of a convolutional network, for the labeller's refit to a person's corrections
(``labelling.refit``): the network's feature maps at strides 8, 16 and 32, brought to stride 8, stacked, reduced
by a fixed Gaussian random projection (scikit-learn's ``GaussianRandomProjection``, seed 0) and upsampled
bilinearly to the image's pixels; images larger than the network's input are cut into overlapping tiles whose
features are blended (``arrays.tiling.predict_tiled``).

- ``fcn_feature_taps``: the taps of a trained step-8 network (``models.fcn.build_fcn``), the features its own
  classes were learnt from;
- ``imagenet_feature_taps``: those of the ImageNet MobileNetV2 backbone (``models.fcn.backbone_extractor``), for a
  model that has no dense features of its own (a step-4 tile classifier).
"""

from __future__ import annotations

import numpy as np

#: Channels of the projected features.
FEATURE_CHANNELS = 64
#: Tile (H, W) of ``imagenet_feature_taps`` (multiples of 32).
IMAGENET_TILE = (256, 256)


def fcn_feature_taps(model):
    """Keras model: (B, H, W, 3) float32 RGB 0-255 -> [stride-8, stride-16, stride-32 features] of a step-8
    network (the inputs of its score convolutions)."""
    import keras

    taps = [model.get_layer("score8").input, model.get_layer("score16").input, model.get_layer("dropout").input]
    return keras.Model(model.inputs, taps, name="fcn_feature_taps")


def imagenet_feature_taps(tile_shape: tuple[int, int] = IMAGENET_TILE, cache_dir=None):
    """Keras model: (B, H, W, 3) float32 RGB 0-255 -> the ImageNet MobileNetV2's [stride-8, -16, -32 features]."""
    import keras

    from .fcn import backbone_extractor, preprocess_layer

    extractor, mode = backbone_extractor("mobilenetv2", tile_shape, pretrained=True, cache_dir=cache_dir,
                                         train_backbone="none")
    inputs = keras.Input(tuple(tile_shape) + (3,))
    return keras.Model(inputs, extractor(preprocess_layer(mode)(inputs)), name="imagenet_feature_taps")


class DenseFeatures:
    """``DenseFeatures(taps, tile_shape)(image) -> (H, W, FEATURE_CHANNELS) float32`` for an (H, W, 3) image
    (uint8 RGB, or float 0-255 already prepared as the network expects), with ``taps`` one of the models above
    and ``tile_shape`` its (H, W) input size."""

    def __init__(self, taps, tile_shape: tuple[int, int], channels: int = FEATURE_CHANNELS):
        from sklearn.random_projection import GaussianRandomProjection

        self.taps, self.tile_shape = taps, (int(tile_shape[0]), int(tile_shape[1]))
        depth = sum(int(output.shape[-1]) for output in taps.outputs)
        projection = GaussianRandomProjection(n_components=channels, random_state=0).fit(np.zeros((1, depth)))
        self.projection = projection.components_.T.astype(np.float32)  # (depth, channels)

    def _tile_features(self, tiles: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        stride8, stride16, stride32 = self.taps.predict_on_batch(tiles)
        grid = stride8.shape[1:3]
        stacked = tf.concat([stride8, tf.image.resize(stride16, grid), tf.image.resize(stride32, grid)], axis=-1)
        return tf.image.resize(tf.tensordot(stacked, self.projection, axes=1), tiles.shape[1:3]).numpy()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        from ..arrays.tiling import predict_tiled

        return predict_tiled(np.asarray(image), self._tile_features, self.tile_shape)
