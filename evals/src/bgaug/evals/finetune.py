"""Fine-tuning on the 1% / 10% label splits (paper appendix A.5.2): trunk and head, separate LRs.

The whole network trains (BatchNorm in train mode) on RandomResizedCrop + flip views of the split's
images; the trunk uses ``recipe.lr`` and the freshly initialised linear head ``recipe.head_lr``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn

from bgaug.core.interfaces import Classifier, Preprocess
from bgaug.core.seeding import torch_generator
from bgaug.evals.batching import UnreadableLog, loader
from bgaug.evals.datasets import ImageListDataset, LabelledImage
from bgaug.evals.inference import EvalOptions
from bgaug.evals.linear import new_head, train_augmentation
from bgaug.evals.recipes import Recipe
from bgaug.evals.training import fit


def finetune(
    backbone: nn.Module,
    preprocess: Preprocess,
    train_items: Sequence[LabelledImage],
    classes: int,
    recipe: Recipe,
    options: EvalOptions,
    *,
    batch_size: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
) -> tuple[Classifier, list[float], list[str]]:
    """Fine-tune ``backbone`` with a new ``classes``-way head; return the classifier (eval), the epoch
    losses and the unreadable train images (left out)."""
    if recipe.head_lr is None:
        raise ValueError("a fine-tuning recipe needs head_lr (the head's learning rate)")
    model = Classifier(backbone, nn.Identity(), preprocess).to(options.device)
    dim = int(
        model.features(torch.zeros(2, 3, preprocess.crop, preprocess.crop, device=options.device)).shape[1]
    )
    model.head = new_head(dim, classes, seed).to(options.device)
    for p in model.parameters():
        p.requires_grad_(True)
    bs = batch_size or recipe.batch_size
    params = [
        {"params": list(model.backbone.parameters()), "lr": recipe.scaled_lr(bs)},
        {"params": list(model.head.parameters()), "lr": recipe.scaled_lr(bs, recipe.head_lr)},
    ]
    dataset = ImageListDataset(train_items, preprocess, transform=train_augmentation(preprocess.crop))
    run_options = dataclasses.replace(options, batch_size=bs)
    unreadable = UnreadableLog(dataset)

    def batches(epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        model.train()
        generator = torch_generator(seed, "finetune", epoch)
        for images, labels, ok, index in loader(dataset, run_options, shuffle=True, generator=generator):
            unreadable.note(ok, index)
            if int(ok.sum()) < 2:  # BatchNorm in train mode needs two samples
                continue
            keep = ok.to(options.device)
            yield images.to(options.device)[keep], labels.to(options.device)[keep]

    losses = fit(model, params, batches, recipe, epochs=epochs, desc="finetune", progress=options.progress)
    return model.cpu().eval(), losses, unreadable.paths()
