"""make_image_classifier: one job from a folder of photos to a deployable classifier.

It composes the other packages (datasets converter, model, train, inference); the stages
and the head training on cached features live here, the command in slimcls/cli.
"""
