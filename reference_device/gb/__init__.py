"""The GB/T 28181 device side of the reference decoder, for accounts of type ``gb28181``.

Signalling only (registration, keepalive, queries); calls and media live in reference_device/sip/.

* `settings`: the process-wide GB settings (`--gb-*` flags) carried in `SipSettings.gb`.
* `identity`: who the account is on the wire: device ID, platform ID, SIP domain, URIs.
* `outbox`: MESSAGEs the device sends to its platform (MANSCDP bodies, one transaction each).
* `keepalive`: the §9.6 Notify/Keepalive loop and its "platform lost" verdict.
* `catalog`: the decoder's channel list (one item per output).
* `queries`: incoming MESSAGEs: 200 at once, then the Response(s) with the query's SN.

The REGISTER side is in reference_device/sip/registration.py (GB mode of `Registration`), the
MESSAGE routing in reference_device/sip/stack.py.
"""
