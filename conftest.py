"""Root conftest: only loads the plugin (decoder_conformance/plugin/).

An installed checkout (`pip install -e .`) already loads it through its pytest11 entry point
`decoder_conformance`; a bare checkout on PYTHONPATH loads it here instead.
"""

from importlib.metadata import entry_points

_installed = any(ep.name == "decoder_conformance" for ep in entry_points(group="pytest11"))
pytest_plugins = [] if _installed else ["decoder_conformance.plugin"]
