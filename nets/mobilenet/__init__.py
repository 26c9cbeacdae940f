"""TF-Slim's ``nets.mobilenet`` package: the MobileNetV2/V3 builder and its blocks."""
