"""A Jupyter-first research kit: nbdev notebooks, papermill runs and four ML research pipelines

Modules:

- `research_kit.core.example`: A small, real pipeline that exercises the whole run lifecycle: typed config and presets, data, a model, the `Trainer`, metrics, checkpoints, figures, exact resume and multi-process training.
- `research_kit.core.training`: The pieces every trainer shares: Accelerate setup, mixed precision, gradient accumulation and clipping, a NaN/inf guard, resumable data order, progress, logging and checkpoints."""

__version__ = "0.1.0"
