"""``vaekit serve``: a trained model in the browser, with a JSON API (needs ``vaekit[serve]``).

:mod:`vaekit.serve.explorer` holds the model and its test examples (no web code);
:mod:`vaekit.serve.app` builds the FastAPI app over it; ``static/`` is the page. Importing this
package imports neither FastAPI nor torch.
"""
