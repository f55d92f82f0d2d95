"""One file per backend, ``<name>_backend.py`` exposing ``BACKEND`` (found by ``engines.registry``)."""
