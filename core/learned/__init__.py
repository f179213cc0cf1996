"""Learned: serving the trained nets on the tick path with numpy or the compiled forward pass.

Owns the run-time feature rows (``features``), the forward pass (``nets``) and the model objects that fill
the ``core.costs`` model slots, loaded from ``models/*.npz`` and their cards (``models``). Never imports
TensorFlow, Keras or the training package (training lives in ``core.training``). Imports ``core.costs``,
``core.market`` and the base modules.
"""
