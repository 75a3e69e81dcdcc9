"""Malformed SIP: the corpus (groups of cases from templates), what each case expects, the sender
that plays them against a device over UDP and TCP, and the IP-level cases built with scapy.

corpus.py and expect.py are pure data and functions (no I/O); sender.py sends; ip_level.py needs
scapy and raw-socket rights (CAP_NET_RAW).
"""
