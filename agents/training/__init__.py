"""Training: the command (train_cli: ``train.py`` / ``orbitcloud-train``), its hyperparameters (hyperparameters,
the files in agents/hyperparams/), run folders (runs), callbacks, the batched VecEnv (vec_env), warm starts by
behaviour cloning (pretrain) and by distilling the lookahead planner (distill), the learning curve of a run
(learning_curve) and rl-baselines3-zoo's commands (zoo). Imports agents.acting and agents.common."""
