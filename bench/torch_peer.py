"""The PyTorch peer: CifarNet and timm's InceptionV3 in PyTorch's strongest practical CPU setup.

Usage: TORCH_PYTHON bench/torch_peer.py --data SPLIT.npz --model cifarnet|inception_v3
           --batch 32 [--image_size N] [--dtype float32|bfloat16] [--compile]
           [--steps 20] [--warmup 5] [--synthetic]
       TORCH_PYTHON bench/torch_peer.py --check   (prints torch's and timm's versions)

Runs in whatever interpreter has torch and timm (``bench_peers.py --torch_python``), so
slimcls' own environment stays free of PyTorch; it imports neither TensorFlow nor slimcls.
Prints one ``BENCH_RESULT {json}`` line (``step_seconds``, ``examples_per_s``), like
``slimcls_trial.py train``.

What this side does, chosen as the fastest a PyTorch user would write on a CPU:

* Input: the training split decoded once into memory as uint8 ``[N, H, W, 3]`` (the
  ``.npz`` that ``bench/data.py --uint8`` writes from the same TFRecord shards the other
  sides read; decoding is not timed, as a torchvision CIFAR-10 dataset holds its split
  as a uint8 array). Each step takes the next batch of a per-epoch random permutation
  and augments the whole batch at once in the training thread (no DataLoader workers:
  on a few cores they would take the cores the step needs), random values per image:

  - CifarNet: TF-Slim's cifarnet training preprocessing as slimcls runs it: a random
    shift of up to 4 pixels (zero padding) and a left-right flip, both one uint8 gather,
    then random contrast U[0.2, 1.8) and per-image standardisation (brightness is left
    out as in slimcls: the standardisation removes it exactly).
  - InceptionV3: TF-Slim's inception training preprocessing, batched: a random crop of
    5-100% of the area with aspect ratio 3/4-4/3 (TF-Slim's distorted bounding box
    without its object-coverage test), resized bilinearly to the output size and flipped
    at random, all in one ``grid_sample``; brightness +-32/255; saturation U[0.5, 1.5)
    as a blend with the grey image (TensorFlow's is in HSV: same range, not the same
    arithmetic); clipped to [0, 1], scaled to [-1, 1].

* Models, channels_last (NHWC memory, oneDNN's preferred layout on CPU):

  - CifarNet: TF-Slim's layer sizes and initialisers (truncated normal 0.05 convs, 0.04
    fc, 1/192 logits, fc biases 0.1), ``nn.LocalResponseNorm(9, alpha=0.001, beta=0.75,
    k=1)`` (= TF-Slim's depth_radius 4, alpha 0.001/9: PyTorch divides alpha by the
    size), dropout 0.5, weight decay 4e-5 on the fc weights.
  - InceptionV3: ``timm.create_model("inception_v3", num_classes=10)`` at the given size,
    without the auxiliary head (timm's default, as the Keras peer; slimcls trains one,
    ~1% of the FLOPs at 150x150), weight decay 4e-5.

* bfloat16: ``torch.autocast("cpu", dtype=torch.bfloat16)`` around the forward pass and
  the loss (float32 weights, bfloat16 compute), as PyTorch's AMP recipe says.
* ``--compile``: ``torch.compile(model)`` (Inductor; it compiles during the first
  warm-up step, which is not timed).
* Optimiser: plain SGD at 0.01 (TF-Slim's ``--optimizer=sgd``), ``zero_grad(set_to_none)``.
  Threads: ``torch.set_num_threads`` = the cores this process may use.
* Step time: from taking the batch (augmentation included, as slimcls' step time includes
  waiting for its pipeline) to having the loss as a Python float.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import emit, report_child, steady_examples_per_s, usable_cores  # noqa: E402

NUM_CLASSES = 10
WEIGHT_DECAY = 0.00004  # TrainConfig's default, as the other sides use
LEARNING_RATE = 0.01


def versions() -> dict:
    """numpy's, torch's and timm's versions in this interpreter (None where not installed)."""
    found = {}
    for name in ("numpy", "torch", "timm"):
        try:
            module = __import__(name)
            found[name] = module.__version__
        except Exception as e:  # noqa: BLE001 (reported: a broken install is "not installed")
            found[name] = None
            found[f"{name}_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    return found


# ------------------------------------------------------------------------------ models


def cifarnet(torch, num_classes: int = NUM_CLASSES):
    """TF-Slim's CifarNet in PyTorch (same sizes and initialisers; 32x32 input)."""
    nn = torch.nn

    class CifarNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 5, padding=2)
            self.conv2 = nn.Conv2d(64, 64, 5, padding=2)
            self.pool = nn.MaxPool2d(2, 2)
            self.norm = nn.LocalResponseNorm(9, alpha=0.001, beta=0.75, k=1.0)
            self.fc3 = nn.Linear(8 * 8 * 64, 384)
            self.fc4 = nn.Linear(384, 192)
            self.logits = nn.Linear(192, num_classes)
            self.dropout = nn.Dropout(0.5)
            for layer, std in ((self.conv1, 5e-2), (self.conv2, 5e-2), (self.fc3, 0.04),
                               (self.fc4, 0.04), (self.logits, 1 / 192.0)):  # fmt: skip
                nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
                nn.init.constant_(layer.bias, 0.1 if layer in (self.fc3, self.fc4) else 0.0)

        def forward(self, x):
            x = self.norm(self.pool(torch.relu(self.conv1(x))))
            x = self.pool(self.norm(torch.relu(self.conv2(x))))
            # TF-Slim flattens NHWC; the order does not change the cost.
            x = torch.flatten(x, 1)
            x = self.dropout(torch.relu(self.fc3(x)))
            return self.logits(torch.relu(self.fc4(x)))

    return CifarNet()


def build(torch, model: str, image_size: int):
    """The model and its optimiser's parameter groups (weight decay as TF-Slim's)."""
    if model == "cifarnet":
        net = cifarnet(torch)
        decayed = [net.fc3.weight, net.fc4.weight]
        rest = [p for p in net.parameters() if all(p is not d for d in decayed)]
        groups = [{"params": decayed, "weight_decay": WEIGHT_DECAY}, {"params": rest}]
        return net, groups
    if model == "inception_v3":
        import timm

        net = timm.create_model("inception_v3", num_classes=NUM_CLASSES, pretrained=False)
        return net, [{"params": list(net.parameters()), "weight_decay": WEIGHT_DECAY}]
    raise ValueError(f"torch_peer: no PyTorch model for {model!r}; expected cifarnet, inception_v3")


# ------------------------------------------------------------------------------ input


def cifarnet_augment(torch, images, padding: int = 4):
    """uint8 NHWC batch -> float32 NCHW (channels_last): shift, flip, contrast, standardise."""
    b, h, w, _ = images.shape
    padded = torch.nn.functional.pad(images, (0, 0, padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (2, b))
    rows = offsets[0, :, None] + torch.arange(h)
    cols = offsets[1, :, None] + torch.arange(w)
    flip = torch.rand(b) < 0.5
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(b)[:, None, None]
    x = padded[batch, rows[:, :, None], cols[:, None, :]].float()  # one gather: shift + flip
    # Random contrast (each channel about its mean), then per-image standardisation.
    factor = torch.empty(b, 1, 1, 1).uniform_(0.2, 1.8)
    channel_mean = x.mean(dim=(1, 2), keepdim=True)
    x = (x - channel_mean) * factor + channel_mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True, unbiased=False)
    x = (x - mean) / torch.clamp(std, min=1.0 / math.sqrt(h * w * x.shape[-1]))
    return x.permute(0, 3, 1, 2)  # NCHW shape, NHWC memory: channels_last


def inception_augment(torch, images, size: int):
    """uint8 NHWC batch -> float32 NCHW (channels_last) in [-1, 1]: crop, resize, flip,
    brightness, saturation (random values per image)."""
    F = torch.nn.functional
    b = images.shape[0]
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    # Crop box: area fraction U[0.05, 1], log-uniform aspect ratio in [3/4, 4/3], clamped
    # to the image; in grid_sample's [-1, 1] coordinates: centre and half-extent.
    area = torch.empty(b).uniform_(0.05, 1.0)
    ratio = torch.exp(torch.empty(b).uniform_(math.log(0.75), math.log(4 / 3)))
    half_w = (torch.sqrt(area * ratio)).clamp(max=1.0)
    half_h = (torch.sqrt(area / ratio)).clamp(max=1.0)
    cx = (torch.rand(b) * 2 - 1) * (1 - half_w)
    cy = (torch.rand(b) * 2 - 1) * (1 - half_h)
    sign = torch.where(torch.rand(b) < 0.5, -1.0, 1.0)  # a negative x scale flips
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = half_w * sign, cx
    theta[:, 1, 1], theta[:, 1, 2] = half_h, cy
    grid = F.affine_grid(theta, [b, 3, size, size], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    x = x + torch.empty(b, 1, 1, 1).uniform_(-32 / 255, 32 / 255)
    grey = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    x = grey + (x - grey) * torch.empty(b, 1, 1, 1).uniform_(0.5, 1.5)
    x = x.clamp_(0.0, 1.0).mul_(2.0).sub_(1.0)
    return x.contiguous(memory_format=torch.channels_last)


class Batches:
    """Batches of a uint8 split in memory: a new random permutation each epoch, the
    remainder dropped (as the other sides' training pipelines)."""

    def __init__(self, torch, images, labels, batch: int, augment):
        self.torch, self.images, self.labels = torch, images, labels
        self.batch, self.augment = batch, augment
        self.order, self.pos = torch.randperm(len(labels)), 0

    def next(self):
        if self.pos + self.batch > len(self.order):
            self.order, self.pos = self.torch.randperm(len(self.labels)), 0
        idx = self.order[self.pos : self.pos + self.batch]
        self.pos += self.batch
        return self.augment(self.images[idx]), self.labels[idx]


# ------------------------------------------------------------------------------ run


def run(args) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(usable_cores())
    torch.manual_seed(0)
    with np.load(args.data) as split:
        images = torch.from_numpy(np.ascontiguousarray(split["images"]))
        labels = torch.from_numpy(split["labels"].astype(np.int64))
    if images.ndim != 4 or images.dtype != torch.uint8 or images.shape[-1] != 3:
        raise ValueError(f"{args.data}: expected uint8 [N, H, W, 3] images, got "
                         f"{images.dtype} {list(images.shape)}")  # fmt: skip
    if len(labels) < args.batch:
        raise ValueError(f"{args.data}: {len(labels)} images, fewer than --batch {args.batch}")
    defaults = {"cifarnet": 32, "inception_v3": 299}
    size = args.image_size or defaults.get(args.model, 224)
    if args.model == "cifarnet":
        if images.shape[1:3] != (size, size):
            raise ValueError(f"cifarnet trains on the stored {size}x{size} images; "
                             f"{args.data} holds {images.shape[1]}x{images.shape[2]}")  # fmt: skip
        augment = lambda batch: cifarnet_augment(torch, batch)  # noqa: E731
    else:
        augment = lambda batch: inception_augment(torch, batch, size)  # noqa: E731
    batches = Batches(torch, images, labels, args.batch, augment)
    if args.synthetic:
        fixed = batches.next()
        batches.next = lambda: fixed

    model, groups = build(torch, args.model, size)
    model = model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(groups, lr=LEARNING_RATE)
    step_model = torch.compile(model) if args.compile else model
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.dtype == "bfloat16")

    seconds, loss_value = [], None
    for _ in range(args.warmup + args.steps):
        started = time.perf_counter()
        x, y = batches.next()
        with autocast:
            logits = step_model(x)
            loss = torch.nn.functional.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_value = loss.item()  # waits for the step, as the other sides do
        seconds.append(time.perf_counter() - started)
    return {
        "step_seconds": [round(s, 5) for s in seconds],
        "examples_per_s": steady_examples_per_s(seconds, args.batch, args.warmup),
        "final_loss": loss_value,
        "torch_version": torch.__version__,
        "timm_version": versions().get("timm") if args.model != "cifarnet" else None,
        "compiled": bool(args.compile),
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print versions and exit")
    parser.add_argument("--data", help="the uint8 split (.npz with images, labels)")
    parser.add_argument("--model", default="cifarnet", choices=("cifarnet", "inception_v3"))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--image_size", type=int, default=None)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--synthetic", action="store_true", help="one batch, repeated")
    args = parser.parse_args()
    if args.check:
        emit(versions())
        return 0
    if not args.data:
        parser.error("--data is required (the .npz that bench/data.py --uint8 writes)")
    if args.batch < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("--batch and --steps must be >= 1, --warmup >= 0")
    return report_child(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
