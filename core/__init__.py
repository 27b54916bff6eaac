"""The framework-free bottom layer: the architecture registry, errors users can fix, safe file writing.

Nothing here imports torch or MindSpore, and nothing here imports the packages above it (torch_ref,
ms_models, weights_convert, the applications), so every one of them can build on it.
"""
