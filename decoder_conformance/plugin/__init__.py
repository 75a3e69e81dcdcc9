"""The pytest plugin (entry point `decoder_conformance`): the only pytest-aware part of the harness.

Each part registers its own hooks and fixtures: `options` (command line and configuration),
`gates` (requirement IDs, capability skips, waivers), `session` (the target, lab snapshot and
restore, device clients), `peers` (SIP peers and accounts), `gb` (the GB28181 platform,
gb28181 accounts, status series), `status_trace` (status.json of a case's accounts recorded and
judged), `evidence` (attachments, summary) and `verdicts` (findings, readings, device duties).
"""

pytest_plugins = [
    "decoder_conformance.plugin.options",
    "decoder_conformance.plugin.gates",
    "decoder_conformance.plugin.session",
    "decoder_conformance.plugin.peers",
    "decoder_conformance.plugin.gb",
    "decoder_conformance.plugin.status_trace",
    "decoder_conformance.plugin.evidence",
    "decoder_conformance.plugin.verdicts",
    "decoder_conformance.plugin.baseline",
    "decoder_conformance.plugin.read_only",
    "decoder_conformance.plugin.parallel",
    "decoder_conformance.plugin.progress",
    "decoder_conformance.plugin.quick",
    "decoder_conformance.plugin.differential",
]
