"""The conformance harness: a pytest plugin over a library of peers a video decoder talks to.

Layers, from the top (arrows point down only; `tests/test_house_rules.py` enforces them):

    plugin/                    the only pytest-aware part: options, gates, session, peers, evidence
      -> peers/, report/       what the device talks to; ladders, plots, pcaps, summary, Allure
      -> device/, media/, waiting
      -> contract/, failures   requirement catalogue and profiles; who failed
      -> wire/                 pure wire formats (outside this package)
"""

from __future__ import annotations

from pathlib import Path

#: The checkout: spec/, profiles/ and the reference decoder's package live here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: The suite host of reference runs, and the one address every peer may always send to.
LOOPBACK = "127.0.0.1"
