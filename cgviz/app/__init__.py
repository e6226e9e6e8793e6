"""The Streamlit layer of cgviz: what the pages of ``app.py`` draw, and nothing else.

* ``ui``: the pieces every page shares (the system in use and its picker, uploads, the
  chart wrapper, error display, caches, run configs for page 3).
* ``markov_view``, ``memnets_view``, ``training_view``, ``mapping_view``, ``rollout_view``:
  the sections of one screen each. Each takes the frozen result of one library call and
  draws it.

The library (``cgviz.*`` outside this package) never imports it; it imports streamlit, so
import it only in a Streamlit script.
"""
