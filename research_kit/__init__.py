"""A Jupyter-first research kit: nbdev notebooks, papermill runs and four ML research pipelines

Modules:

- `research_kit.core.example`: A small, real pipeline that exercises the whole run lifecycle: typed config and presets, data, a model, the `Trainer`, metrics, checkpoints, figures, exact resume and multi-process training.
- `research_kit.core.training`: The pieces every trainer shares: Accelerate setup, mixed precision, gradient accumulation and clipping, a NaN/inf guard, resumable data order, progress, logging and checkpoints.
- `research_kit.frameworks.general`: What every training framework shares: random games and images, prompt + answer token batches with the pad masked, the model call, losses, control text, answer scoring and the registry with the seed's public signature.
- `research_kit.frameworks.player`: `AgentPlayer`: any Hugging Face causal LM with a ViT-style image encoder, an image decoder and a rolling memory of image "canvases".
- `research_kit.frameworks.training`: `fit(cfg, run)`: weighted sampling of frameworks on the core `Trainer`, per-framework losses in metrics.jsonl, checkpoints and exact resume, demo images per framework, and an evaluation table on held-out games.
- `research_kit.frameworks.widget`: Play the game by buttons and see what the player model makes of it: its answers to the QA prompts (next to the truth from the game's predicates) and the images it imagines.
- `research_kit.generative.data`: Procedural navigation-among-movable-obstacles scenes, the ground-truth goal mask of the object to push, the `.npz` format and the loader that turns files into 8-channel model inputs.
- `research_kit.generative.dit`: A diffusion transformer over 4 x 4 patches, conditioned on time through zero-initialised adaptive layer norm and on the scene through its input channels.
- `research_kit.generative.inference`: Draw k masks per scene, threshold them, keep the ones that are a single blob, turn each into a pose (centre, angle, extent), and score it: IoU with the ground-truth mask, and functional success (the object placed there collides with nothing and opens a path from the robot to its goal).
- `research_kit.generative.samplers`: From noise to a mask: ODE solvers for flow matching (Meta's `flow_matching`, or `torchdyn`), DDIM and DDPM for diffusion (`diffusers`). Each one counts the network evaluations it really made.
- `research_kit.generative.train`: The config, the loss (the path's MSE plus a focal-dice term on the predicted mask), the validation figure, and `fit`, which trains a DiT with the kit's `Trainer` (AdamW, gradient clipping, bf16 on GPU, Accelerate for several GPUs, last.pt and best.pt by val_loss, TensorBoard).
- `research_kit.rl.affine`: Seed 002's SFT-then-RL recipe end to end: build the verifiable-task and agent-episode data, fine-tune on it, improve the agent with PPO in an environment, and grade the base, SFT and RL models for real.
- `research_kit.rl.code_tasks`: Tasks built from program rows: ABD asks for an input that makes a program print a given output, DED asks for a program that passes a problem's tests. Both are graded by running code in the sandbox.
- `research_kit.rl.evaluation`: Per-environment statistics with a Jeffreys-prior Beta interval, weighted aggregates, Pareto dominance and the frontier over several models, the rule that decides when a newer model beats an older one, results as JSON and a plot. Scores come from the real graders (SAT verifier, ABD/DED execution), not from random numbers.
- `research_kit.rl.grpo`: Group-relative policy optimisation with TRL's `GRPOTrainer`, rewarded by the real SAT, abduction and deduction verifiers.
- `research_kit.rl.pipeline`: The `grading` benchmark (pooled sandbox against one fresh process per program, environment steps per second) and the data command that builds the seed's collection: affine SAT/ABD/DED samples and AgentGym-style expert episodes.
- `research_kit.rl.ppo`: Proximal policy optimisation of a causal LM (with LoRA adapters and a value head) acting in text environments over many turns: batched rollouts, per-turn rewards, GAE over tokens, clipped updates.
- `research_kit.rl.ppo_math`: Generalised advantage estimation over tokens, the clipped policy and value losses, entropy, KL and explained variance, as pure functions tested against values worked out by hand.
- `research_kit.rl.sandbox`: Run model-written programs with hard limits: their own session and process group, CPU time, memory, file size and process count limits, a wall-clock timeout, an empty environment, a fresh private working directory, no network, capped output, and every process they started killed at the end. A pool of pre-forked workers gives the throughput a grader needs.
- `research_kit.rl.sft`: SFT of a causal LM on chat data with TRL's `SFTTrainer` and PEFT LoRA: loss on the assistant's tokens only, padding-free batches, a 90/10 split, eval loss and perplexity, the best checkpoint by eval loss, merged export."""

__version__ = "0.1.0"
