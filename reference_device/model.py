"""Accounts, their call settings, the device state, and the JSON views the API returns."""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from reference_device.status import AccountRuntime, AccountStatus

DEFAULT_BUFFER: Final = "live:200:200:500:0:0"
DEFAULT_REGISTER_PORT: Final = 5060
DEFAULT_REALM: Final = "*"

JsonObject = dict[str, Any]


class AccountType(StrEnum):
    """The two account types; the page's "Ssip" is a typo and not a member."""

    SIP = "sip"
    GB28181 = "gb28181"


@dataclass
class CallSettings:
    """The ONE stored call-settings object that feeds both call_cfg.json and account.json."""

    allow_in: bool = True  # call_cfg allow_in 1/2
    auto_answer: bool = False  # call_cfg auto_aws
    policy: int = 1
    target: str = ""  # call_cfg sip_out_url
    auto_call: bool = False
    create_stream: bool = True  # call_cfg source_enable 1/2
    buffer: str = DEFAULT_BUFFER  # account buffer_option
    source_id: str = ""
    allow_in_num: int = 1
    default_name: str = ""


@dataclass
class Account:
    """One SIP/GB28181 account as configured through add/modify."""

    id: int
    name: str
    type: AccountType
    local_account: str = ""
    local_address: str = ""
    realm: str = DEFAULT_REALM
    server_id: str = ""
    register_server: str = ""
    register_port: int = DEFAULT_REGISTER_PORT
    username: str = ""
    password: str = ""
    call: CallSettings = field(default_factory=CallSettings)


@dataclass
class State:
    """Everything persisted: the id counter, the accounts by id, the SIP binds."""

    next_id: int = 1
    accounts: dict[int, Account] = field(default_factory=dict)
    binds: list[str] = field(default_factory=list)


def account_status(
    account: Account, transport_open: bool = True, *, created_on_add: bool = False
) -> AccountStatus:
    """`created` once the account has a local account and a local address to serve it on
    (and, with a SIP layer, the transport for that address is open). Before that `not_created`,
    or, when an account counts as created from add.json on (`created_on_add`), `error`."""
    if account.local_account and account.local_address and transport_open:
        return AccountStatus.CREATED
    return AccountStatus.ERROR if created_on_add else AccountStatus.NOT_CREATED


def list_entry(
    account: Account,
    transport_open: bool = True,
    *,
    created_on_add: bool = False,
    id_as_string: bool = False,
) -> JsonObject:
    """One element of list.json's data (`id_as_string`: the id as a decimal string)."""
    status = account_status(account, transport_open, created_on_add=created_on_add)
    return {
        "created": created_on_add or status is AccountStatus.CREATED,
        "type": account.type.value,
        "name": account.name,
        "id": str(account.id) if id_as_string else account.id,
    }


def account_view(account: Account) -> JsonObject:
    """account.json's data."""
    call = account.call
    return {
        "gb28181_options": {},
        "call_in_options": {
            "auto_answer": call.auto_answer,
            "allow": call.allow_in,
            "policy": call.policy,
        },
        "call_out_options": {
            "create_stream": call.create_stream,
            "target": call.target,
            "auto_call": call.auto_call,
        },
        "localAddress": account.local_address,
        "protocol": account.type.value,
        "source_id": call.source_id,
        "serverId": account.server_id,
        "password": account.password,
        "registerServer": account.register_server,
        "registerPort": account.register_port,
        "buffer_option": call.buffer,
        "localAccount": account.local_account,
        "username": account.username,
        "name": account.name,
        "realm": account.realm,
    }


def call_cfg_view(call: CallSettings) -> JsonObject:
    """call_cfg.json's data: the same settings as account.json, in the page's other encoding."""
    return {
        "allow_in_num": call.allow_in_num,
        "buffer": call.buffer,
        "source_id": call.source_id,
        "default_name": call.default_name,
        "sip_out_url": call.target,
        "allow_in": 1 if call.allow_in else 2,
        "source_enable": 1 if call.create_stream else 2,
        "auto_aws": int(call.auto_answer),
        "auto_call": int(call.auto_call),
    }


def status_view(status: AccountStatus, runtime: AccountRuntime) -> list[JsonObject]:
    """status.json's data, in the page's order."""
    return [
        {"state": status.value, "id": "account_status"},
        {
            "state": runtime.register.state.value,
            "extra_info": runtime.register_extra_info,
            "id": "register_status",
        },
        {"state": runtime.call.state.value, "id": "call_status"},
        {"state": runtime.bitrate_kbps, "id": "bitrate"},
    ]
