"""minilm-l6's hyperparameters as chosen on its validation split, 50 of the 170 training sentences
(``dse.experiments.minilm_choice``, whose table is in docs/transformer.md); never on the test split.

They live apart from the model and pruning code on purpose: the pruning cache keys hash that code's source,
and the values themselves enter the keys (the smoothed weights, the recipe, the distillation weight), so
setting a new choice here re-prunes only what it changes.
"""

SMOOTH_ALPHA = 0.5             # SmoothQuant migration strength (Xiao et al., ICML 2023); None: no smoothing
DISTILL_WEIGHT = 10.0          # pruning's fine-tuning loss: head cross-entropy + this x cosine distance to float
PRUNE_LEARNING_RATE = 3e-4     # Adam step of the weights while pruning (dse.pruning.transformer.TRANSFORMER_RECIPE)
