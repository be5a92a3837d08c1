"""A whole-worm model fitted to the C. elegans signal-propagation atlas, scored on held-out experiments.

Data: Randi F, Sharma AK, Dvali S, Leifer AM (2023) "Neural signal propagation atlas of Caenorhabditis
elegans", Nature 623:406–414, doi:10.1038/s41586-023-06683-4 (`funatlas.h5` of the `wormneuroatlas`
package, per-trial ΔF/F `dFF_all`, read with h5py). Model family after Creamer MS, Leifer AM, Pillow JW
(2024) "Bridging the gap between the connectome and whole-brain activity in C. elegans" (bioRxiv,
doi:10.1101/2024.09.22.614271): a connectome-constrained linear model of the stimulation responses.

Modules: `data` (per-trial responses, robust outlier treatment, split-half reproducibility), `model` (the
connectome-constrained linear-response model and its L-BFGS fit), `evaluate` (held-out trials, k-fold over
stimulated neurons with nested CV, baselines, shuffled connectomes), `spiking` (the fit as a LIF circuit spec
and its Brian2 / emulator runs), `figures`.
"""
