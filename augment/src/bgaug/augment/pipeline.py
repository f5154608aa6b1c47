"""``ViewPipeline``: masked images in, a method's ``ViewBatch`` out, all on batched tensors.

Per global view: mask distortion (appendix B, when configured) -> FG_min-constrained
RandomResizedCrop + flip moving image and mask together (one resize) -> photometric
augmentation of the image and of the tiled backgrounds it will receive, with the same parameters ->
background augmentation (after the other augmentations, the paper's default; with ``order="before"``
it is composited on the load-size image first) -> normalisation. The photometric step normalises
while the pixels are in cache and compositing blends normalised pixels (the same result: per-channel
normalisation is affine, so it commutes with blending). Local views (multi-crop) get crop,
flip and colour only. Every random number comes from the generator passed in, drawn in a fixed
order and count, so the same seed gives the same views on any batch content.

Background sources: BG_Random and BG_Swaps give a view the (augmented) tiled background of another
row of the batch that has one. With no such row (a batch of one, or no other row with a background)
the view falls back to its own tiled background, counted in ``stats["bg_own_background"]``.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor

from bgaug.augment.background import (
    matched_negative,
    pick_other_rows,
    replace_background,
    usable_rows,
)
from bgaug.augment.config import BackgroundConfig, ViewSpec
from bgaug.augment.crops import device_constant, resized_crops, sample_crops, summed_area
from bgaug.augment.masks import distort_masks
from bgaug.augment.photometric import PhotometricParams, apply_photometric, sample_photometric
from bgaug.core.crop_params import uniform
from bgaug.core.errors import UsageError
from bgaug.core.interfaces import IMAGENET_MEAN, IMAGENET_STD, MaskedImages, ViewBatch
from bgaug.core.vocabulary import TILED_BG_AUGS


@dataclass(frozen=True)
class _Draws:
    """One global view's background decisions (drawn for every row, used or not)."""

    u: Tensor  # (B,) uniform: augment when u < p_pos
    gray: Tensor  # (B,) BG_RM gray level
    donor: Tensor  # (B,) row whose tiled background BG_Random uses
    donor_found: Tensor  # (B,) False when no other row has a background


@dataclass(frozen=True)
class _Plan:
    """Which rows of one view get which background."""

    bg_rows: Tensor  # rows filled with a tiled background ...
    bg_sources: Tensor  # ... taken from these rows
    gray_rows: Tensor  # rows filled with a gray level ...
    gray_levels: Tensor  # ... of these values
    no_foreground: Tensor  # (B,) the view's mask has too little foreground
    no_background: Tensor  # (B,) the view's mask is all foreground


@dataclass
class _Call:
    """One pipeline call's inputs and draws, and what its views share (caches filled on first use)."""

    raw: Tensor  # the batch's images as given (uint8 or float)
    masks: Tensor  # binary float masks
    images: Tensor  # float copies when compositing before the other augmentations, else ``raw``
    backgrounds: Tensor | None
    has_bg: Tensor
    p_pos: float
    draws: list[_Draws]
    swaps: bool
    anchor: int  # the view a matched negative mirrors (0: query, 1: key)
    neg_on: Tensor
    partners: list[tuple[Tensor, Tensor]]
    stats: Counter[str] = field(default_factory=Counter)
    shared_sat: Tensor | None = None
    with_mask: Tensor | None = None

    @property
    def dev(self) -> torch.device:
        return self.raw.device

    @property
    def batch_size(self) -> int:
        return int(self.raw.shape[0])


@dataclass(frozen=True)
class _View:
    """What a finished view hands on: the view, its mask, geometry, source, plan and fallback fill."""

    final: Tensor
    mask: Tensor
    geometry: tuple[Tensor, Tensor, PhotometricParams]
    source: Tensor
    fallback_fill: Tensor | None
    plan: _Plan | None
    load_mask: Tensor
    center_crops: Tensor


def _as_float(x: Tensor) -> Tensor:
    return x.float().div_(255) if x.dtype == torch.uint8 else x.float()


def _with_channel(x: Tensor, masks: Tensor | None = None) -> Tensor:
    """``x`` with the (binary float) mask, or zeros, as a 4th channel in ``x``'s dtype and scale:
    image and mask then share one resize, and 4 uint8 channels take the fast resize kernel.
    Built channels-last (the resize's layout) in one pass."""
    shape = (x.shape[0], 4, *x.shape[2:])
    out = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    out[:, :3] = x
    if masks is None:
        out[:, 3:] = 0
    else:
        out[:, 3:] = masks  # binary: 0 / 1 in any dtype
        if x.dtype == torch.uint8:
            out[:, 3:] *= 255
    return out


ROW_LOOP_MIN_VALUES = 1 << 16
"""On CPU, blends of rows at least this large (3 x 148^2) go row by row in place: no gathered copies
(about half the memory traffic); smaller rows are cheaper gathered (less Python per row)."""


def _row_by_row(x: Tensor) -> bool:
    return x.device.type == "cpu" and x[0].numel() >= ROW_LOOP_MIN_VALUES


def _fill_rows_(out: Tensor, rows: Tensor, fills: Tensor, x: Tensor, masks: Tensor) -> None:
    """``out[i] = masks[i] * x[i] + (1 - masks[i]) * fills[k]`` for the k-th row ``i`` of ``rows``
    (``fills``: one tiled background, gray level or per-channel level per row, in order)."""
    if not _row_by_row(x):
        out[rows] = replace_background(x[rows], masks[rows], fills)
        return
    for k, i in enumerate(rows.tolist()):
        torch.lerp(fills[k].expand_as(x[i]), x[i], masks[i], out=out[i])


def _mirror_rows(x: Tensor, masks: Tensor, rows: Tensor, other: Tensor, other_rows: Tensor) -> Tensor:
    """``matched_negative(x[rows], masks[rows], other[other_rows])``."""
    if not _row_by_row(x):
        return matched_negative(x[rows], masks[rows], other[other_rows])
    out = x.new_empty((rows.numel(), *x.shape[1:]))
    for k, (i, j) in enumerate(zip(rows.tolist(), other_rows.tolist(), strict=True)):
        torch.lerp(x[i], other[j], masks[i], out=out[k])
    return out


def _binary(m: Tensor) -> Tensor:
    """Float 0 / 1 mask of ``m`` > half its scale (uint8: > 127), written straight as float (a bool
    result and a conversion cost ~5x more on CPU)."""
    out = torch.empty(m.shape, dtype=torch.float32, device=m.device)
    return torch.gt(m, 127 if m.dtype == torch.uint8 else 0.5, out=out)


def _mask_of(warped: Tensor) -> Tensor:
    """Binary float mask from the 4th channel of a resized (image + mask) tensor."""
    return _binary(warped[:, 3:])


def normalize(x: Tensor) -> Tensor:
    """ImageNet mean/std normalisation (views get it inside ``apply_photometric``; this is for the
    few fills composited into normalised views)."""
    mean = device_constant(IMAGENET_MEAN, x.dtype, x.device).view(1, 3, 1, 1)
    std = device_constant(IMAGENET_STD, x.dtype, x.device).view(1, 3, 1, 1)
    return torch.addcdiv(-mean / std, x, std)


def _cat_params(a: PhotometricParams, b: PhotometricParams) -> PhotometricParams:
    fields = PhotometricParams.__dataclass_fields__
    return PhotometricParams(*(torch.cat([getattr(a, f), getattr(b, f)]) for f in fields))


class ViewPipeline:
    """A method's view recipe plus a background augmentation; see the module docstring.

    ``views``: global views first, then local ones. ``rotations``: RotNet — ``views[0]`` is rotated by
    k x 90 degrees, k returned in ``ViewBatch.rotations``. ``timings`` accumulates seconds per stage
    when ``profile`` is True (the bench reads it; CUDA is synchronised around each stage then).
    ``batched`` picks the resize's and the photometric step's code path: None (default) batches
    off the CPU (a few kernel launches per view whatever the batch size) and keeps the CPU's
    per-sample resize and cache-sized chunks on CPU; True / False force one (tests run the GPU's
    path on CPU with True).
    """

    def __init__(
        self,
        method: str,
        views: Sequence[ViewSpec],
        background: BackgroundConfig,
        *,
        rotations: bool = False,
        keep_labels: bool = False,
    ):
        if not views:
            raise ValueError("views must hold at least one ViewSpec")
        n_global = 0
        while n_global < len(views) and views[n_global].is_global:
            n_global += 1
        if n_global == 0 or any(v.is_global for v in views[n_global:]):
            raise ValueError("views must list the global views first, then the local ones")
        if background.kind == "bg_swaps" and n_global < 2:
            raise UsageError(f"bg_swaps needs a query and a key view; {method} has {n_global} global view(s)")
        self.method = method
        self.views = tuple(views)
        self.n_global = n_global
        self.background = background
        self.rotations = rotations
        self.keep_labels = keep_labels
        self.epoch = 0
        self.profile = False
        self.batched: bool | None = None
        self.timings: defaultdict[str, float] = defaultdict(float)
        self.last_masks: tuple[Tensor, ...] = ()
        """The global views' masks of the last call (for previews and tests)."""

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch for the p_pos / p_neg warm-up."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def probabilities(self) -> tuple[float, float]:
        """(p_pos, p_neg) in effect at the current epoch."""
        return self.background.probabilities(self.epoch)

    @contextmanager
    def _stage(self, name: str, device: torch.device) -> Iterator[None]:
        if not self.profile:
            yield
            return
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        yield
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        self.timings[name] += time.perf_counter() - start

    # -- background decisions -------------------------------------------------------------------
    def _draw(self, B: int, has_bg: Tensor, generator: torch.Generator) -> _Draws:
        dev = has_bg.device
        u = uniform((B,), 0.0, 1.0, generator).to(dev)
        gray = uniform((B,), 0.0, 1.0, generator).to(dev)
        donor, found = pick_other_rows(has_bg, generator)
        return _Draws(u=u, gray=gray, donor=donor, donor_found=found)

    def _plan(self, d: _Draws, masks: Tensor, has_bg: Tensor, p: float, stats: Counter[str]) -> _Plan:
        """Decide, for one view, which rows get a background and from where; count the skips."""
        cfg = self.background
        drawn = d.u < p
        no_fg, no_bg = usable_rows(masks, cfg.min_foreground)
        rows = drawn & ~no_fg & ~no_bg
        none = torch.zeros_like(rows)
        if cfg.kind == "bg_rm":
            gray, tiled, own, lacking = rows, none, none, none
        else:
            own = rows & ~d.donor_found & has_bg
            tiled = rows & (d.donor_found | has_bg)
            lacking = rows & ~tiled
            gray = lacking if cfg.missing_background == "gray" else none
        counts = {
            "bg_drawn": drawn,
            "bg_skipped_no_foreground": drawn & no_fg,
            "bg_skipped_all_foreground": drawn & ~no_fg & no_bg,
            "bg_own_background": own,
            "bg_gray_fill": gray & (cfg.kind != "bg_rm"),
            "bg_skipped_no_source": lacking & ~gray,
            "bg_applied": tiled | gray,
        }
        totals = torch.stack([c.sum() for c in counts.values()]).tolist()  # one host sync
        stats.update(dict(zip(counts, totals, strict=True)))
        bg_rows = torch.nonzero(tiled).squeeze(1)
        gray_rows = torch.nonzero(gray).squeeze(1)
        sources = torch.where(d.donor_found, d.donor, torch.arange(len(rows), device=rows.device))
        return _Plan(
            bg_rows=bg_rows,
            bg_sources=sources[bg_rows],
            gray_rows=gray_rows,
            gray_levels=d.gray[gray_rows],
            no_foreground=no_fg,
            no_background=no_bg,
        )

    @staticmethod
    def _apply_plan(
        x: Tensor,
        masks: Tensor,
        plan: _Plan,
        fills: Tensor | None,
        *,
        inplace: bool = False,
        normalized: bool = False,
    ) -> Tensor:
        """Composite: ``fills`` holds the tiled backgrounds for ``plan.bg_rows`` in order.
        ``normalized``: ``x`` and ``fills`` are normalised views, so the gray levels are normalised
        too (normalisation is affine per channel, so it commutes with the blend)."""
        out = x if inplace else x.clone()
        if plan.gray_rows.numel():
            r = plan.gray_rows
            levels = plan.gray_levels
            if normalized:
                levels = normalize(levels.to(x.dtype).view(-1, 1, 1, 1).expand(-1, 3, 1, 1))
            _fill_rows_(out, r, levels, x, masks)
        if plan.bg_rows.numel() and fills is not None:
            _fill_rows_(out, plan.bg_rows, fills, x, masks)
        return out

    # -- the call -------------------------------------------------------------------------------
    def __call__(self, batch: MaskedImages, generator: torch.Generator) -> ViewBatch:
        with self._stage("total", batch.images.device):
            return self._run(batch, generator)

    def _run(self, batch: MaskedImages, generator: torch.Generator) -> ViewBatch:
        call = self._prepare(batch, generator)
        done = [self._view(call, v, spec, generator) for v, spec in enumerate(self.views)]
        call.stats["fg_min_center_crop"] += int(torch.stack([d.center_crops for d in done]).sum())
        finals = [d.final for d in done]
        negatives = negative_rows = None
        if call.swaps:
            anchor = done[call.anchor]
            with self._stage("compositing", call.dev):
                negatives, negative_rows = self._matched_negatives(
                    finals, [d.mask for d in done], [d.source for d in done], [d.geometry for d in done],
                    anchor.load_mask, anchor.plan, call.images, call.backgrounds,
                    call.neg_on, call.partners, call.anchor, anchor.fallback_fill, call.stats,
                )  # fmt: skip
        self.last_masks = tuple(d.mask for d in done[: self.n_global])
        rotations = None
        if self.rotations:
            finals[0], rotations = self._rotate(finals[0], generator)
        return ViewBatch(
            views=tuple(finals),  # normalised by the photometric step already
            n_global=self.n_global,
            matched_negatives=negatives,
            matched_rows=negative_rows,
            labels=batch.labels if self.keep_labels else None,
            rotations=rotations,
            stats=dict(call.stats),
        )

    def _prepare(self, batch: MaskedImages, generator: torch.Generator) -> _Call:
        """Inputs in the dtypes the views need, and the call's background draws (a fixed count, in a
        fixed order: background decisions per global view, then matched negatives)."""
        cfg = self.background
        kind = cfg.kind
        raw = batch.images  # uint8 stays uint8 through the resize (the fast path), floats stay floats
        dev = raw.device
        B = raw.shape[0]
        # Float copies at load size are needed only to composite before the other augmentations.
        images = _as_float(raw) if cfg.order == "before" else raw
        backgrounds = None if batch.backgrounds is None else batch.backgrounds
        if backgrounds is not None and cfg.order == "before":
            backgrounds = _as_float(backgrounds)
        if kind in TILED_BG_AUGS and backgrounds is None and cfg.missing_background == "error":
            raise ValueError(
                f"{kind} needs tiled backgrounds but the batch has none (MaskedImages.backgrounds is None);"
                " build the mask bank with backgrounds, or pass missing_background='gray' to fill with"
                " a uniform gray (BG_RM-style) instead"
            )
        if backgrounds is None:
            has_bg = torch.zeros(B, dtype=torch.bool, device=dev)
        elif batch.has_background is None:
            has_bg = torch.ones(B, dtype=torch.bool, device=dev)
        else:
            has_bg = batch.has_background.to(dev).bool()
        p_pos, p_neg = self.probabilities() if kind != "none" else (0.0, 0.0)
        draws = [self._draw(B, has_bg, generator) for _ in range(self.n_global)]
        swaps = kind == "bg_swaps"
        neg_u = uniform((B,), 0.0, 1.0, generator).to(dev)
        if cfg.coupled and swaps:
            neg_u = draws[1].u
        neg_on = neg_u < p_neg if swaps else torch.zeros(B, dtype=torch.bool, device=dev)
        everyone = torch.ones(B, dtype=torch.bool, device=dev)
        partners = [pick_other_rows(everyone, generator) for _ in range(cfg.n_matched)]
        return _Call(
            raw=raw, masks=_binary(batch.masks), images=images, backgrounds=backgrounds, has_bg=has_bg,
            p_pos=p_pos, draws=draws, swaps=swaps, anchor=0 if cfg.negative_match == "query" else 1,
            neg_on=neg_on, partners=partners,
        )  # fmt: skip

    def _view(self, call: _Call, v: int, spec: ViewSpec, generator: torch.Generator) -> _View:
        """One view: its masks (distorted for background views), an early composite (``order ==
        "before"``), crop + flip, colour of the view and of the tiles it receives, the composite."""
        cfg = self.background
        dev = call.dev
        is_bg_view = spec.is_global and v < self.n_global and cfg.kind != "none"
        with self._stage("masks", dev):
            m = distort_masks(call.masks, cfg.distortion, generator) if is_bg_view else call.masks
        src = call.raw
        early: _Plan | None = None
        if is_bg_view and cfg.order == "before":
            with self._stage("compositing", dev):
                early = self._plan(call.draws[v], m, call.has_bg, call.p_pos, call.stats)
                fills = None if call.backgrounds is None else call.backgrounds[early.bg_sources]
                src = self._apply_plan(call.images, m, early, fills)
        with self._stage("geometry", dev):
            crops, flip, fell_back, warped = self._crop(call, spec, m, src, generator)
            x = warped[:, :3]  # uint8 stays uint8: the photometric step converts in cache
            vm = _mask_of(warped) if spec.is_global else None
        params = sample_photometric(spec, call.batch_size, generator)
        plan: _Plan | None = None
        fill_rows = torch.zeros(0, dtype=torch.long, device=dev)
        if is_bg_view and cfg.order == "after" and vm is not None:
            with self._stage("compositing", dev):
                plan = self._plan(call.draws[v], vm, call.has_bg, call.p_pos, call.stats)
            fill_rows = plan.bg_sources
        own_rows = torch.zeros(0, dtype=torch.long, device=dev)
        alone = call.swaps and v == call.anchor and call.batch_size == 1  # no other row to borrow from
        if alone and call.backgrounds is not None and bool(call.has_bg[0]):
            own_rows = torch.zeros(1, dtype=torch.long, device=dev)  # matched-negative fallback
        x, tiles = self._colour(call, spec, x, params, crops, flip, torch.cat([fill_rows, own_rows]))
        if plan is not None and vm is not None:
            with self._stage("compositing", dev):
                x = self._apply_plan(x, vm, plan, tiles[: fill_rows.numel()], inplace=True, normalized=True)
        return _View(
            final=x,
            mask=vm if vm is not None else call.masks.new_zeros(0),
            geometry=(crops, flip, params),
            source=src,
            fallback_fill=tiles[fill_rows.numel() :] if own_rows.numel() else None,
            plan=plan or early,
            load_mask=m,
            center_crops=fell_back.sum(),  # summed over views after the loop: one host sync
        )

    def _crop(
        self, call: _Call, spec: ViewSpec, m: Tensor, src: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """FG_min-constrained crop boxes and flips, and the image with its mask resized through them
        (one resize of a 4-channel tensor); returns (crops, flip, fell_back, warped)."""
        cfg = self.background
        B, _, H, W = call.raw.shape
        sat = None
        if spec.is_global and cfg.fg_min > 0:
            if m is call.masks:  # the undistorted masks' table, computed once per call
                call.shared_sat = summed_area(call.masks) if call.shared_sat is None else call.shared_sat
                sat = call.shared_sat
            else:
                sat = summed_area(m)
        crops, fell_back = sample_crops(
            B, H, W, scale=spec.scale, ratio=spec.ratio, generator=generator,
            sat=sat, fg_min=cfg.fg_min, tries=cfg.fg_min_tries, fallback_size=spec.size,
        )  # fmt: skip
        crops = crops.to(call.dev)
        flip = (uniform((B,), 0.0, 1.0, generator) < spec.flip_p).to(call.dev)
        if src is call.raw and m is call.masks:  # the same 4-channel input serves every such view
            call.with_mask = _with_channel(call.raw, call.masks) if call.with_mask is None else call.with_mask
            warped = resized_crops(call.with_mask, crops, spec.size, flip, batched=self.batched)
        else:
            warped = resized_crops(_with_channel(src, m), crops, spec.size, flip, batched=self.batched)
        return crops, flip, fell_back, warped

    def _colour(
        self,
        call: _Call,
        spec: ViewSpec,
        x: Tensor,
        params: PhotometricParams,
        crops: Tensor,
        flip: Tensor,
        extra: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """The view's photometric augmentation, normalised, with the tiled backgrounds of rows ``extra``
        cropped and coloured exactly as the rows they will fill; returns (view, tiles)."""
        colour_in, colour_params = x, params  # the view, then the tiles it composites
        with self._stage("geometry", call.dev):
            if call.backgrounds is not None and extra.numel():
                tiles = resized_crops(
                    _with_channel(call.backgrounds[extra]), crops[extra], spec.size, flip[extra],
                    batched=self.batched,
                )[:, :3]  # fmt: skip
                colour_in = torch.cat([x, tiles])
                colour_params = _cat_params(params, params.select(extra.to(params.jitter.device)))
        with self._stage("photometric", call.dev):
            # A new contiguous float tensor, normalised: compositing commutes with normalisation.
            out = apply_photometric(colour_in, colour_params, spec, normalize=True, batched=self.batched)
        B = call.batch_size
        return out[:B], out[B:]

    @staticmethod
    def _rotate(view: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """RotNet: each row turned by k x 90 degrees, k drawn per row; returns (rotated, k)."""
        k = torch.floor(uniform((view.shape[0],), 0.0, 4.0, generator)).long().clamp_(max=3).to(view.device)
        rotated = view.clone()
        for quarter in (1, 2, 3):
            rows = torch.nonzero(k == quarter).squeeze(1)
            if rows.numel():
                rotated[rows] = torch.rot90(view[rows], quarter, dims=(2, 3))
        return rotated, k

    def _matched_negatives(
        self,
        finals: list[Tensor],
        view_masks: list[Tensor],
        sources: list[Tensor],
        view_params: list[tuple[Tensor, Tensor, PhotometricParams]],
        load_mask: Tensor,
        anchor_plan: _Plan | None,
        images: Tensor,
        backgrounds: Tensor | None,
        neg_on: Tensor,
        partners: list[tuple[Tensor, Tensor]],
        anchor: int,
        own_fill: Tensor | None,
        stats: Counter[str],
    ) -> tuple[Tensor, Tensor]:
        """BG_Swaps' matched negatives ``m * r + (1 - m) * x`` for the rows drawn with p_neg.

        ``x`` is the anchor view (query or key) and ``m`` its mask; ``r`` is another row's positive-key
        view (after its own augmentation). In a batch of one there is no other image: ``r`` is the
        row's own tiled background, so the negative shows the query's background with no object.
        """
        cfg = self.background
        spec = self.views[anchor]
        dev = neg_on.device
        B = neg_on.shape[0]
        # "before": the negative is composited at load size, then moved with the anchor's geometry.
        m = view_masks[anchor] if cfg.order == "after" else load_mask
        if anchor_plan is not None:  # the anchor view's plan already measured its mask
            no_fg, no_bg = anchor_plan.no_foreground, anchor_plan.no_background
        else:
            no_fg, no_bg = usable_rows(m, cfg.min_foreground)
        rows_ok = neg_on & ~no_fg & ~no_bg
        skipped = torch.stack([(neg_on & no_fg).sum(), (neg_on & ~no_fg & no_bg).sum()]).tolist()
        stats["matched_skipped_no_foreground"] += skipped[0]
        stats["matched_skipped_all_foreground"] += skipped[1]
        others = [choice for choice, _ in partners]  # with B > 1 every row has another row
        if B == 1 and bool(rows_ok[0]):
            if own_fill is None and cfg.missing_background == "error":
                stats["matched_skipped_no_source"] += 1
                rows_ok = torch.zeros_like(rows_ok)
            else:
                stats["matched_own_background"] += cfg.n_matched
        rows = torch.nonzero(rows_ok).squeeze(1)
        h = w = spec.size
        if rows.numel() == 0:
            return finals[0].new_zeros((0, 3, h, w)), torch.zeros(0, dtype=torch.long, device=dev)
        negs: list[Tensor] = []
        for choice in others:
            j = choice[rows]
            if cfg.order == "after":
                if B > 1:
                    r = finals[1]
                elif own_fill is not None:
                    r = own_fill
                else:
                    r = normalize(finals[0].new_full((1, 3, h, w), 0.5))
                if B > 1:
                    negs.append(_mirror_rows(finals[anchor], m, rows, r, j))
                else:
                    negs.append(matched_negative(finals[anchor][rows], m[rows], r))
            else:
                if B > 1:
                    r_src = images[j]
                elif backgrounds is not None and own_fill is not None:
                    r_src = backgrounds[rows]
                else:
                    r_src = images.new_ones((1, 3, *images.shape[2:])) * 0.5
                src = matched_negative(sources[anchor][rows], m[rows], r_src)
                crops, flip, params = view_params[anchor]
                x = resized_crops(
                    _with_channel(src), crops[rows], spec.size, flip[rows], batched=self.batched
                )[:, :3]
                rows_params = params.select(rows.to(params.jitter.device))
                negs.append(apply_photometric(x, rows_params, spec, normalize=True, batched=self.batched))
        # (R, n_matched, 3, h, w): each row's negatives together (no copy for a single negative).
        stacked = negs[0].unsqueeze(1) if len(negs) == 1 else torch.stack(negs, dim=1)
        stats["matched_negatives"] += int(stacked.shape[0] * stacked.shape[1])
        return stacked.flatten(0, 1), rows.repeat_interleave(len(others))
