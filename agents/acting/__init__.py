"""Everything that chooses actions: the observation-only heuristics (heuristics), the privileged reference planner
(lookahead), this package's network policy for MaskablePPO (policies), RLlib's masking module (rllib_masking), the
algorithm table and the loading of saved models (rl), and the registry that builds any of them by name or path
(registry; ``agents.make_policy``). Imports only agents.common."""
