"""Score models behind one contract (``model(x, t) -> (M, D)`` score): exact, injected error, MLP, random features;
denoising score matching, checkpoints, and the one factory that builds a model from its config.
"""
