"""The GPU data path: JPEG bytes from worker processes, decoded and augmented on the training device.

Per step (issue #9; DESIGN.md "Data flow"):

- **worker processes** (a ``DataLoader``): read each image file's bytes and its mask from a packed
  mask store (``bgaug.saliency.pack``), and pad the batch's masks into one uint8 tensor (pinned).
  Files nvJPEG should not get (not a JPEG, CMYK, an EXIF rotation) are decoded there with
  ``core.io.load_image``, the same decoder the mask bank saw.
- **a loader thread with its own CUDA stream**: batched nvJPEG decode
  (``torchvision.io.decode_jpeg(device="cuda")``), image and mask taken to the square load size
  together (shorter side to the load size, centre crop: ``core.data``'s load geometry) with one
  ``roi_align`` per group of similar sizes, tiled backgrounds computed from the decoded image
  (``core.tiling.tiled_backgrounds``: a pure function of image and mask, so the store holds masks
  only), then the method's ``ViewPipeline``. Finished ``ViewBatch``es are handed over with a CUDA
  event, so augmenting step n + 1 overlaps training step n.
- **on CPU** the same decode-and-fit function runs inside the workers (libjpeg-turbo), and the main
  process only augments: the same interface and the same output.

``DeviceEpochBatches`` is a ``batches(epoch, start_step)`` callable for the ssl_methods training loop,
like ``core.loading.EpochBatches`` (same sampler, same per-step generators), so a resumed run draws the
same views. The tiled background here is computed at the load size rather than at the image's own size
before resizing (the CPU dataset's order); the two differ only by resampling at the tile's edges.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import queue
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from bgaug.core.data import folder_labels
from bgaug.core.errors import UsageError
from bgaug.core.interfaces import MaskBank, MaskedImages, ViewBatch
from bgaug.core.io import MIN_IMAGE_SIDE, BadImageError, list_images, load_image
from bgaug.core.loading import EpochBatches
from bgaug.core.tiling import tiled_backgrounds

JPEG_MODES = ("RGB",)
"""JPEG colour modes left to the device's decoder. Grayscale (~2% of ImageNet), CMYK and YCCK files
decode in the workers with ``load_image``: what the masks were made from, and no batch ever fails on
a colour conversion nvJPEG might not do."""
JPEG_END = b"\xff\xd9"
"""The end-of-image marker. A file that does not end with it is decoded in the worker, where a
truncated file fails with its name (decoders on the device may fill the missing part silently) and
one with trailing bytes after the marker is read as PIL reads it."""
EXIF_ORIENTATION = 0x0112
PAD_PIXELS = 1 << 24
"""Most pixels (per channel) of one padded group handed to ``roi_align``: bounds the pad buffer when a
batch mixes a few huge photographs with ordinary ones (images are grouped by size)."""
PREFETCH = 2
"""Finished batches the loader thread may hold ahead of training."""

Encoded = dict[str, Any]
"""A worker's batch: ``jpeg`` (every JPEG file's bytes, joined in one 1-D uint8 tensor),
``jpeg_lengths`` (bytes per file), ``jpeg_rows``, ``decoded`` (the images the worker decoded, each
(3, h, w) flattened and joined in one 1-D uint8 tensor; h, w from ``sizes``), ``decoded_rows``,
``mask_bits`` (B, Hmax, ceil(Wmax / 8)) uint8 rows packed by ``np.packbits`` (``unpack_mask_bits``),
``mask_width`` (Wmax), ``sizes`` (B, 2) (h, w), ``index`` (B,), ``labels`` (B,) (int64 numpy arrays),
``paths`` (list of str). The DataLoader hands each tensor over through its own shared-memory segment
(a file descriptor passed and mapped in the main process): one per image cost ~0.4 ms an image there
(100-130 ms a batch of 256 on the dev VM, more than the whole decode), so the images travel as two
joined tensors and the small fields as numpy arrays, which are pickled inline."""


class EncodedImageFolder(Dataset[dict[str, Any]]):
    """Images under ``image_root`` (``list_images`` order) as file bytes, with their masks.

    ``bank``: a mask bank whose ``mask(index)`` returns the (H, W) bool mask without a background
    (``saliency.pack.PackedMaskBank``); with ``None`` every pixel is foreground (no background
    augmentation). A mask whose size differs from its image raises ``BadImageError`` naming the file.
    ``cpu_decode_share``: the fraction of images (a fixed subset, spread evenly over the index) that
    the worker decodes itself with libjpeg-turbo instead of leaving them to the device's decoder, so
    idle worker cores can take load off nvJPEG; 0 leaves every plain JPEG to the device.
    """

    def __init__(
        self,
        image_root: str | os.PathLike[str],
        bank: MaskBank | None,
        *,
        labelled: bool = False,
        cpu_decode_share: float = 0.0,
    ):
        if not 0.0 <= cpu_decode_share <= 1.0:
            raise UsageError(f"cpu_decode_share must lie in [0, 1], got {cpu_decode_share}")
        self.cpu_decode_share = cpu_decode_share
        self.image_root = Path(image_root)
        self.paths = list_images(self.image_root)
        if not self.paths:
            raise FileNotFoundError(f"no images under {self.image_root}")
        if bank is not None and not callable(getattr(bank, "mask", None)):
            raise UsageError(
                f"{type(bank).__name__} has no mask(index) reader; pack the bank first "
                "(python -m bgaug.saliency pack --bank DIR --out PACK)"
            )
        self.bank = bank
        self.bank_rows = None if bank is None else [bank.index_of(p) for p in self.paths]
        self.classes: list[str] = []
        self.labels = [-1] * len(self.paths)
        if labelled:
            self.classes, self.labels = folder_labels(self.paths, self.image_root)

    def __len__(self) -> int:
        return len(self.paths)

    def _decode_here(self, index: int) -> bool:
        # Golden-ratio spacing: any run of consecutive indices gets its share, whatever the batch.
        return (index * 0.6180339887498949) % 1.0 < self.cpu_decode_share

    def __getitem__(self, index: int) -> dict[str, Any]:
        rel = self.paths[index]
        path = self.image_root / rel
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BadImageError(path, f"cannot read ({exc.strerror or exc})") from None
        decoded: np.ndarray | None = None
        try:
            with Image.open(io.BytesIO(data)) as header:  # reads the header only
                width, height = header.size
                plain = (
                    header.format == "JPEG"
                    and header.mode in JPEG_MODES
                    and header.getexif().get(EXIF_ORIENTATION, 1) == 1
                    and data.endswith(JPEG_END)
                    and min(width, height) >= MIN_IMAGE_SIDE  # else load_image refuses it by name
                )
        except Exception:  # PIL raises many types; load_image names the cause
            plain = False
        if not plain or self._decode_here(index):
            decoded = load_image(path)  # raises BadImageError with the cause
            height, width = decoded.shape[:2]
        if self.bank is None or self.bank_rows is None:
            mask = np.ones((height, width), dtype=bool)
        else:
            mask = self.bank.mask(self.bank_rows[index])  # type: ignore[attr-defined]
            if mask.shape != (height, width):
                raise BadImageError(
                    path,
                    f"mask size {mask.shape[1]}x{mask.shape[0]} differs from image size {width}x{height}",
                )
        return {
            "jpeg": None if decoded is not None else np.frombuffer(data, dtype=np.uint8),
            "decoded": decoded,
            "mask": mask,
            "index": index,
            "label": self.labels[index],
            "path": str(path),
        }


def collate_encoded(samples: Sequence[dict[str, Any]]) -> Encoded:
    """One batch of ``EncodedImageFolder`` samples (runs in the worker process)."""
    if not samples:
        raise ValueError("cannot collate an empty batch")
    sizes = np.array([s["mask"].shape for s in samples], dtype=np.int64)
    h_max, w_max = (int(v) for v in sizes.max(axis=0))
    # Bit-packed rows: 8x less to pin and copy to the device than one byte per pixel.
    mask_bits = torch.zeros((len(samples), h_max, -(-w_max // 8)), dtype=torch.uint8)
    jpeg: list[np.ndarray] = []
    decoded: list[np.ndarray] = []
    jpeg_rows, decoded_rows = [], []
    for i, s in enumerate(samples):
        h, w = s["mask"].shape
        mask_bits[i, :h, : -(-w // 8)] = torch.from_numpy(np.packbits(s["mask"], axis=1))
        if s["jpeg"] is not None:
            jpeg.append(s["jpeg"])
            jpeg_rows.append(i)
        else:
            decoded.append(s["decoded"].transpose(2, 0, 1).ravel())  # (3, h, w) order
            decoded_rows.append(i)

    def joined(parts: list[np.ndarray]) -> Tensor:
        return torch.from_numpy(np.concatenate(parts) if parts else np.zeros(0, np.uint8))

    return {
        "jpeg": joined(jpeg),
        "jpeg_lengths": [len(j) for j in jpeg],
        "jpeg_rows": jpeg_rows,
        "decoded": joined(decoded),
        "decoded_rows": decoded_rows,
        "mask_bits": mask_bits,
        "mask_width": w_max,
        "sizes": sizes,
        "index": np.array([s["index"] for s in samples], dtype=np.int64),
        "labels": np.array([s["label"] for s in samples], dtype=np.int64),
        "paths": [s["path"] for s in samples],
    }


def unpack_mask_bits(bits: Tensor, width: int) -> Tensor:
    """(B, H, ceil(W / 8)) rows packed by ``np.packbits(axis=1)`` -> (B, H, W) uint8 0/1, on any device."""
    shifts = torch.arange(7, -1, -1, dtype=torch.uint8, device=bits.device)
    unpacked = (bits.unsqueeze(-1) >> shifts) & 1
    return unpacked.flatten(-2)[..., :width]


def decode_images(batch: Encoded, device: torch.device) -> list[Tensor]:
    """The batch's images as (3, h, w) uint8 tensors on ``device``, in batch order.

    JPEGs are decoded together (nvJPEG's batched decoder on CUDA, libjpeg-turbo on CPU). When the
    batched decode fails, each file is decoded on its own with ``load_image``: a broken file raises
    ``BadImageError`` naming it, and if every file reads there (a file the device's decoder does not
    support) the batch goes on with those, with a warning.
    """
    with warnings.catch_warnings():  # torchvision >= 0.29 points to TorchCodec; the decoder is the same
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import ImageReadMode, decode_jpeg

    images: list[Tensor | None] = [None] * len(batch["paths"])
    if batch["decoded_rows"]:
        shapes = [(3, *batch["sizes"][row].tolist()) for row in batch["decoded_rows"]]
        pixels = batch["decoded"].to(device, non_blocking=True)  # one copy for all of them
        parts = pixels.split([c * h * w for c, h, w in shapes])
        for row, part, shape in zip(batch["decoded_rows"], parts, shapes, strict=True):
            images[row] = part.view(shape)
    if batch["jpeg_rows"]:
        files = list(batch["jpeg"].split(batch["jpeg_lengths"]))  # views: contiguous, as nvJPEG needs
        try:
            if device.type == "cuda":
                # The decoder writes from a private stream into blocks allocated on ours; with work
                # still queued here a freed block could be handed out while a kernel reads it
                # (pytorch/vision#9606), so let this stream's work finish first.
                torch.cuda.current_stream(device).synchronize()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                decoded = decode_jpeg(files, mode=ImageReadMode.RGB, device=device)
        except RuntimeError as exc:
            decoded = [
                torch.from_numpy(load_image(batch["paths"][row]).copy()).permute(2, 0, 1).to(device)
                for row in batch["jpeg_rows"]
            ]  # load_image raises BadImageError naming a broken file
            warnings.warn(
                f"the batched JPEG decoder failed ({exc}); this batch was decoded on the CPU",
                RuntimeWarning,
                stacklevel=2,
            )
        for row, image in zip(batch["jpeg_rows"], decoded, strict=True):
            images[row] = image
    out = [image for image in images if image is not None]
    if len(out) != len(images):
        raise RuntimeError("internal error: a batch row was not decoded")
    return out


def _size_groups(sizes: list[tuple[int, int]]) -> list[list[int]]:
    """Rows grouped by area (ascending) so that no group's padded buffer exceeds ``PAD_PIXELS``."""
    order = sorted(range(len(sizes)), key=lambda i: sizes[i][0] * sizes[i][1])
    groups: list[list[int]] = []
    h_max = w_max = 0
    for i in order:
        h, w = sizes[i]
        nh, nw = max(h_max, h), max(w_max, w)
        if groups and (len(groups[-1]) + 1) * nh * nw <= PAD_PIXELS:
            groups[-1].append(i)
            h_max, w_max = nh, nw
        else:
            groups.append([i])
            h_max, w_max = h, w
    return groups


def fit_to_load_size(
    images: Sequence[Tensor], masks: Tensor, sizes: Tensor, load_size: int
) -> tuple[Tensor, Tensor]:
    """Shorter side to ``load_size`` and a centre crop, for image and mask together.

    ``images``: (3, h, w) uint8 per row; ``masks``: (B, Hmax, Wmax) uint8 0/1 padded; ``sizes`` (B, 2).
    Returns (images (B, 3, S, S) float in [0, 1], masks (B, 1, S, S) float 0/1). One ``roi_align``
    per size group: the box is the centred square, ``aligned=True`` puts pixel centres where
    ``F.interpolate(align_corners=False)`` does, and the adaptive sampling ratio (ceil(box / S)
    bilinear samples per output pixel and axis) averages when shrinking, as antialiasing does.
    """
    from torchvision.ops import roi_align

    dev = masks.device
    B = len(images)
    out = torch.empty((B, 4, load_size, load_size), dtype=torch.float32, device=dev)
    size_list = [(int(h), int(w)) for h, w in sizes.tolist()]
    for rows in _size_groups(size_list):
        h_max = max(size_list[i][0] for i in rows)
        w_max = max(size_list[i][1] for i in rows)
        # Half precision on CUDA halves the pad buffer's traffic; pixel values and box corners are
        # exact in it up to 2048 (larger photographs keep float32).
        exact = dev.type == "cuda" and max(h_max, w_max) <= 2048
        dtype = torch.float16 if exact else torch.float32
        pad = torch.zeros((len(rows), 4, h_max, w_max), dtype=dtype, device=dev)
        boxes = []
        for k, i in enumerate(rows):
            h, w = size_list[i]
            pad[k, :3, :h, :w] = images[i]
            side = min(h, w)
            top, left = round((h - side) / 2), round((w - side) / 2)  # torchvision's center_crop
            boxes.append((k, left, top, left + side, top + side))
        index = torch.tensor(rows, dtype=torch.long, device=dev)
        pad[:, 3] = masks.index_select(0, index)[:, :h_max, :w_max]
        # Bilinear samples by an image's bottom / right edge read one row / column past it: make
        # those the edge's copy, not padding (roi_align clamps at the tensor's edge only). Two
        # gathers for the whole group.
        ks = torch.arange(len(rows), device=dev)
        hs = torch.tensor([size_list[i][0] for i in rows], device=dev)
        ws = torch.tensor([size_list[i][1] for i in rows], device=dev)
        pad[ks, :, hs.clamp(max=h_max - 1), :] = pad[ks, :, hs - 1, :]
        pad[ks, :, :, ws.clamp(max=w_max - 1)] = pad[ks, :, :, ws - 1]
        box_t = torch.tensor(boxes, dtype=dtype, device=dev)
        fitted = roi_align(
            pad, box_t, output_size=load_size, spatial_scale=1.0, sampling_ratio=-1, aligned=True
        )
        out.index_copy_(0, index, fitted.to(out.dtype))
    fitted_images = out[:, :3].float().div_(255).clamp_(0, 1)
    fitted_masks = (out[:, 3:] > 0.5).float()
    return fitted_images, fitted_masks


def to_masked_images(batch: Encoded, device: torch.device, load_size: int) -> MaskedImages:
    """Decode, fit to the load size and add tiled backgrounds: a ``MaskedImages`` on ``device``."""
    images = decode_images(batch, device)
    masks = unpack_mask_bits(batch["mask_bits"].to(device, non_blocking=True), batch["mask_width"])
    fitted, fitted_masks = fit_to_load_size(images, masks, torch.from_numpy(batch["sizes"]), load_size)
    backgrounds, has_background = tiled_backgrounds(fitted, fitted_masks)
    labels = torch.from_numpy(batch["labels"])
    return MaskedImages(
        images=fitted,
        masks=fitted_masks,
        backgrounds=backgrounds,
        index=torch.from_numpy(batch["index"]).to(device, non_blocking=True),
        labels=None if bool((labels < 0).all()) else labels.to(device, non_blocking=True),
        has_background=has_background,
    )


class _CpuCollate:
    """Worker-side collate for CPU training: decode and fit inside the worker processes."""

    def __init__(self, load_size: int):
        self.load_size = load_size

    def __call__(self, samples: Sequence[dict[str, Any]]) -> MaskedImages:
        return to_masked_images(collate_encoded(samples), torch.device("cpu"), self.load_size)


class _Prefetcher:
    """Runs ``produce(item, step)`` for each item of ``items`` on a thread (with its own CUDA stream on
    a GPU), at most ``PREFETCH`` results ahead of the consumer.

    Results come back in order. On CUDA each comes with the event that marks it ready: the stream
    current where it is consumed waits on it, and every tensor in it is marked as used by that
    stream, so the caching allocator does not recycle it early. Prefetchers chain: a second one may
    consume the first (each stage then overlaps the other). An exception on the thread is raised in
    the consumer; closing the consumer stops the thread and closes ``items``.
    """

    _DONE = object()

    def __init__(
        self,
        items: Iterator[Any],
        produce: Callable[[Any, int], Any],
        start: int,
        device: torch.device,
    ):
        if device.type == "cuda" and device.index is None:  # set_device needs the index
            device = torch.device("cuda", torch.cuda.current_device())
        self.device = device
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=PREFETCH)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(items, produce, start), daemon=True)
        self.thread.start()

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, items: Iterator[Any], produce: Callable[[Any, int], Any], start: int) -> None:
        try:
            if self.stream is not None:
                torch.cuda.set_device(self.device)
            with contextlib.nullcontext() if self.stream is None else torch.cuda.stream(self.stream):
                for step, item in enumerate(items, start=start):
                    result = produce(item, step)
                    ready = None
                    if self.stream is not None:
                        ready = torch.cuda.Event()
                        ready.record(self.stream)
                    if not self._put((result, ready)):
                        return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)
            return
        finally:
            close = getattr(items, "close", None)
            if callable(close):
                close()  # an upstream prefetcher stops its own thread
        self._put(self._DONE)

    def __iter__(self) -> Iterator[Any]:
        try:
            while True:
                item = self.queue.get()
                if item is self._DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                result, ready = item
                if ready is not None:
                    consumer = torch.cuda.current_stream(self.device)  # the consuming thread's
                    consumer.wait_event(ready)
                    for t in _tensors(result):
                        t.record_stream(consumer)
                yield result
        finally:
            self.stop.set()
            self.thread.join(timeout=60)


def _tensors(batch: MaskedImages | ViewBatch) -> list[Tensor]:
    """The CUDA tensors of a ``MaskedImages`` or ``ViewBatch``."""
    found: list[Tensor] = []
    for f in dataclasses.fields(batch):
        value = getattr(batch, f.name)
        for t in value if isinstance(value, tuple) else (value,):
            if isinstance(t, Tensor) and t.is_cuda:
                found.append(t)
    return found


class DeviceEpochBatches(EpochBatches):
    """``batches(epoch, start_step)`` that decodes and augments on the training device.

    Same sampler, batches and per-step generators as ``EpochBatches`` (it is one); ``dataset`` is an
    ``EncodedImageFolder`` and ``load_size`` the square size images are fitted to before cropping.
    ``decode_on_device`` (default: on CUDA): workers only read bytes and a loader thread decodes and
    augments on the device, ahead of training (module docstring); otherwise the workers decode too
    and the consumer augments.
    """

    def __init__(
        self,
        dataset: EncodedImageFolder,
        augment: Callable[[MaskedImages, torch.Generator], ViewBatch],
        *,
        load_size: int,
        decode_on_device: bool | None = None,
        **kwargs: Any,
    ):
        on_device = (
            torch.device(kwargs["device"]).type == "cuda" if decode_on_device is None else decode_on_device
        )
        collate = collate_encoded if on_device else _CpuCollate(load_size)
        super().__init__(dataset, augment, collate=collate, **kwargs)  # type: ignore[arg-type]
        self.load_size = load_size
        self.decode_on_device = on_device

    def __call__(self, epoch: int, start_step: int = 0) -> Iterator[ViewBatch]:
        from bgaug.core.seeding import torch_generator

        batches = self.start_epoch(epoch, start_step)
        if not batches:
            return iter(())
        loader = self.loader(batches)

        def views(batch: MaskedImages, step: int) -> ViewBatch:
            generator = torch_generator(self.seed, "aug", epoch, step, self.rank, device=self.device)
            return self.augment(batch.to(self.device, non_blocking=True), generator)

        if not self.decode_on_device:
            return (views(batch, step) for step, batch in enumerate(loader, start=start_step))
        # Two threads: decoding batch n + 1 overlaps augmenting batch n (each launches its own
        # kernels, and nvJPEG's host-side work releases the GIL), and both overlap training.
        decoded = iter(_Prefetcher(iter(loader), self._decode, start_step, self.device))
        return iter(_Prefetcher(decoded, views, start_step, self.device))

    def _decode(self, encoded: Encoded, step: int) -> MaskedImages:
        return to_masked_images(encoded, self.device, self.load_size)

    def decoded(self, epoch: int) -> Iterator[MaskedImages]:
        """The epoch's batches decoded and fitted but not augmented (the bench times this stage)."""
        if not self.decode_on_device:
            raise ValueError("decoded() times the device path; this loader decodes in its workers")
        loader = self.loader(self.batch_indices(epoch))
        return iter(_Prefetcher(iter(loader), self._decode, 0, self.device))
