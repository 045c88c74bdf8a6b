"""Benchmarks of SecondOpinion: ``python -m bench`` (see ``bench/__main__.py``)."""
