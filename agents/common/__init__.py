"""The bottom layer of agents/, shared by the others and importing none of them: the command lines' helpers
(cli: one-line usage errors, exit codes, typed flags), atomic file output (io), one run per output folder (locks),
loading model files without running code from them (safeload), where a saved model comes from (provenance), and the
protocol's seed ranges (seeds). Light: no torch, no Stable-Baselines3 at import."""
