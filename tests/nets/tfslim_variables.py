"""TF-Slim's variable tables (names -> shapes) that several net tests compare against."""

# TF-Slim's CifarNet (research/slim/nets/cifarnet.py) on 32x32x3 images, 10 classes.
CIFARNET_VARIABLES = {
    "CifarNet/conv1/weights": [5, 5, 3, 64],
    "CifarNet/conv1/biases": [64],
    "CifarNet/conv2/weights": [5, 5, 64, 64],
    "CifarNet/conv2/biases": [64],
    "CifarNet/fc3/weights": [8 * 8 * 64, 384],
    "CifarNet/fc3/biases": [384],
    "CifarNet/fc4/weights": [384, 192],
    "CifarNet/fc4/biases": [192],
    "CifarNet/logits/weights": [192, 10],
    "CifarNet/logits/biases": [10],
}


# InceptionV3's convolutions as TF-Slim's research/slim/nets/inception_v3.py defines them
# (depth_multiplier=1): (scope, kernel height, kernel width, input depth, output depth).
# Every one is a conv2d + batch norm without scale: weights, BatchNorm/{beta, moving_mean,
# moving_variance}. Note TF-Slim's own spellings: Mixed_5c/Branch_1/Conv_1_0c_5x5,
# Mixed_6a/Branch_0/Conv2d_1a_1x1 (a 3x3 kernel), Mixed_7b/Branch_1/Conv2d_0b_3x1.
_STEM = [
    ("Conv2d_1a_3x3", 3, 3, 3, 32),
    ("Conv2d_2a_3x3", 3, 3, 32, 32),
    ("Conv2d_2b_3x3", 3, 3, 32, 64),
    ("Conv2d_3b_1x1", 1, 1, 64, 80),
    ("Conv2d_4a_3x3", 3, 3, 80, 192),
]


def _mixed_5(name, cin, pool_depth, b1=("Conv2d_0a_1x1", "Conv2d_0b_5x5")):
    return [
        (f"{name}/Branch_0/Conv2d_0a_1x1", 1, 1, cin, 64),
        (f"{name}/Branch_1/{b1[0]}", 1, 1, cin, 48),
        (f"{name}/Branch_1/{b1[1]}", 5, 5, 48, 64),
        (f"{name}/Branch_2/Conv2d_0a_1x1", 1, 1, cin, 64),
        (f"{name}/Branch_2/Conv2d_0b_3x3", 3, 3, 64, 96),
        (f"{name}/Branch_2/Conv2d_0c_3x3", 3, 3, 96, 96),
        (f"{name}/Branch_3/Conv2d_0b_1x1", 1, 1, cin, pool_depth),
    ]


def _mixed_6(name, d):
    return [
        (f"{name}/Branch_0/Conv2d_0a_1x1", 1, 1, 768, 192),
        (f"{name}/Branch_1/Conv2d_0a_1x1", 1, 1, 768, d),
        (f"{name}/Branch_1/Conv2d_0b_1x7", 1, 7, d, d),
        (f"{name}/Branch_1/Conv2d_0c_7x1", 7, 1, d, 192),
        (f"{name}/Branch_2/Conv2d_0a_1x1", 1, 1, 768, d),
        (f"{name}/Branch_2/Conv2d_0b_7x1", 7, 1, d, d),
        (f"{name}/Branch_2/Conv2d_0c_1x7", 1, 7, d, d),
        (f"{name}/Branch_2/Conv2d_0d_7x1", 7, 1, d, d),
        (f"{name}/Branch_2/Conv2d_0e_1x7", 1, 7, d, 192),
        (f"{name}/Branch_3/Conv2d_0b_1x1", 1, 1, 768, 192),
    ]


def _mixed_7(name, cin, b1_3x1):
    return [
        (f"{name}/Branch_0/Conv2d_0a_1x1", 1, 1, cin, 320),
        (f"{name}/Branch_1/Conv2d_0a_1x1", 1, 1, cin, 384),
        (f"{name}/Branch_1/Conv2d_0b_1x3", 1, 3, 384, 384),
        (f"{name}/Branch_1/{b1_3x1}", 3, 1, 384, 384),
        (f"{name}/Branch_2/Conv2d_0a_1x1", 1, 1, cin, 448),
        (f"{name}/Branch_2/Conv2d_0b_3x3", 3, 3, 448, 384),
        (f"{name}/Branch_2/Conv2d_0c_1x3", 1, 3, 384, 384),
        (f"{name}/Branch_2/Conv2d_0d_3x1", 3, 1, 384, 384),
        (f"{name}/Branch_3/Conv2d_0b_1x1", 1, 1, cin, 192),
    ]


BASE_CONVS = (
    _STEM
    + _mixed_5("Mixed_5b", 192, 32)
    + _mixed_5("Mixed_5c", 256, 64, b1=("Conv2d_0b_1x1", "Conv_1_0c_5x5"))
    + _mixed_5("Mixed_5d", 288, 64)
    + [
        ("Mixed_6a/Branch_0/Conv2d_1a_1x1", 3, 3, 288, 384),
        ("Mixed_6a/Branch_1/Conv2d_0a_1x1", 1, 1, 288, 64),
        ("Mixed_6a/Branch_1/Conv2d_0b_3x3", 3, 3, 64, 96),
        ("Mixed_6a/Branch_1/Conv2d_1a_1x1", 3, 3, 96, 96),
    ]
    + _mixed_6("Mixed_6b", 128)
    + _mixed_6("Mixed_6c", 160)
    + _mixed_6("Mixed_6d", 160)
    + _mixed_6("Mixed_6e", 192)
    + [
        ("Mixed_7a/Branch_0/Conv2d_0a_1x1", 1, 1, 768, 192),
        ("Mixed_7a/Branch_0/Conv2d_1a_3x3", 3, 3, 192, 320),
        ("Mixed_7a/Branch_1/Conv2d_0a_1x1", 1, 1, 768, 192),
        ("Mixed_7a/Branch_1/Conv2d_0b_1x7", 1, 7, 192, 192),
        ("Mixed_7a/Branch_1/Conv2d_0c_7x1", 7, 1, 192, 192),
        ("Mixed_7a/Branch_1/Conv2d_1a_3x3", 3, 3, 192, 192),
    ]
    + _mixed_7("Mixed_7b", 1280, "Conv2d_0b_3x1")
    + _mixed_7("Mixed_7c", 2048, "Conv2d_0c_3x1")
)
AUX_CONVS = [
    ("AuxLogits/Conv2d_1b_1x1", 1, 1, 768, 128),
    ("AuxLogits/Conv2d_2a_5x5", 5, 5, 128, 768),
]


def bn_conv_variables(convs):
    variables = {}
    for scope, kh, kw, cin, cout in convs:
        variables[f"InceptionV3/{scope}/weights"] = [kh, kw, cin, cout]
        for name in ("beta", "moving_mean", "moving_variance"):
            variables[f"InceptionV3/{scope}/BatchNorm/{name}"] = [cout]
    return variables


def inception_v3_variables(num_classes=1001):
    """TF-Slim's InceptionV3 variables at 299x299 (names -> shapes)."""
    variables = bn_conv_variables(BASE_CONVS + AUX_CONVS)
    for scope, cin in (("AuxLogits/Conv2d_2b_1x1", 768), ("Logits/Conv2d_1c_1x1", 2048)):
        variables[f"InceptionV3/{scope}/weights"] = [1, 1, cin, num_classes]
        variables[f"InceptionV3/{scope}/biases"] = [num_classes]
    return variables
