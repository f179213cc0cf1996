"""Training: building datasets and labels from recordings, fitting Keras models, writing cards and reports.

``dataset`` builds the rows and labels (with ``core.learned.features``), ``keras_models`` builds and fits the
nets, ``train`` evaluates and writes the models and cards, ``report`` writes ``docs/MODELS.md``. The only
package that imports TensorFlow/Keras. It may import anything in ``core``; nothing in serving imports it (the
app and the CLIs serve the ``.npz`` weights). ``python -m core.train`` is its entry point.
"""
