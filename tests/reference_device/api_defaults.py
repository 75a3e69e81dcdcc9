"""What the bundled decoder's API shows for a new sip account named "a" (account.json) and its
call_cfg.json: the defaults its tests expect, and the recorded good answers the negative controls
of the API checks are fed."""

from typing import Any

Json = dict[str, Any]

#: account.json's data for the new account.
ACCOUNT_DEFAULTS: Json = {
    "gb28181_options": {},
    "call_in_options": {"auto_answer": False, "allow": True, "policy": 1},
    "call_out_options": {"create_stream": True, "target": "", "auto_call": False},
    "localAddress": "",
    "protocol": "sip",
    "source_id": "",
    "serverId": "",
    "password": "",
    "registerServer": "",
    "registerPort": 5060,
    "buffer_option": "live:200:200:500:0:0",
    "localAccount": "",
    "username": "",
    "name": "a",
    "realm": "*",
}
#: call_cfg.json's data for it.
CALL_CFG_DEFAULTS: Json = {
    "allow_in_num": 1,
    "buffer": "live:200:200:500:0:0",
    "source_id": "",
    "default_name": "",
    "sip_out_url": "",
    "allow_in": 1,
    "source_enable": 1,
    "auto_aws": 0,
    "auto_call": 0,
}
