"""Training: a recipe -> a run directory with scheduled Hugging Face checkpoints and gradient-weight dynamics.

    probscope train train/builtin-dft.yaml [--key value ...]

config.py: the recipe (RunConfig + DataFormat + TRL's SFTConfig, from YAML and flags);
objectives.py: the loss registry (sft, dft, ...); trainer.py: TRL's SFTTrainer with those objectives;
callbacks.py: the gradient-weight statistics recorded while training; checkpoints.py: schedules and
atomic saving; run.py: the job that chains them.
"""
