"""Training: a :class:`~slimcls.train.state.TrainState`, one step function, a short loop.

TF-Slim's ``train_image_classifier.py`` semantics on TF2 machinery, split by job:

* :mod:`~slimcls.train.losses`: TF-Slim's loss terms.
* :mod:`~slimcls.train.precision`: the compute dtype and float16 loss scaling.
* :mod:`~slimcls.train.state`: model, optimizer slots, global step, moving averages;
  what a checkpoint holds and how a run resumes or fine-tunes.
* :mod:`~slimcls.train.step`: the module-level train step, run per replica by a
  ``tf.distribute`` strategy inside one ``tf.function``.
* :mod:`~slimcls.train.hooks`: the loop's side jobs (logging, summaries, checkpoints,
  validation), each a small object.
* :mod:`~slimcls.train.loop`: :func:`train`, which puts them together.
"""

from slimcls.train.loop import TrainResult, train
from slimcls.train.losses import compute_losses

__all__ = ["TrainResult", "compute_losses", "train"]
