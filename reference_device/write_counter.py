"""What the device was asked to change: API requests by endpoint, commits, SIP requests by method.

Read through `reference/stats.json` (a reference-only diagnostic beside `reference/info.json`,
not an endpoint a lab decoder needs) and logged once at exit, so a test can prove that a run
wrote nothing (the suite's --read-only mode). A request counts when it arrives, accepted or
refused: "the device saw no write" means no write request reached it at all.
"""

from collections import Counter
from typing import Final

#: The SIP-module endpoints that change the device's state: accounts, call settings, binds, and
#: the current call (answer.json and hangup.json). users/login.json is not among them: a token
#: is a session of the HTTP API, not a state of the SIP module.
WRITE_ENDPOINTS: Final = frozenset(
    {"add", "modify", "remove", "modify_call_cfg", "set_binds", "answer", "hangup"}
)
#: The one SIP request RFC 3261 defines as a pure query (§11); every other method received may
#: change a registration, a dialog or a call, so it counts as a write.
READ_ONLY_SIP_METHODS: Final = frozenset({"OPTIONS"})


def endpoint_name(path: str) -> str | None:
    """The SIP-module endpoint a route path names ("/sip/add.json" -> "add"), else None."""
    folder, _, file = path.strip("/").rpartition("/")
    if folder != "sip" or not file.endswith(".json"):
        return None
    return file.removesuffix(".json")


class WriteCounter:
    """Counts what the device received that asks for a change, and what it committed."""

    def __init__(self) -> None:
        self.api_requests: Counter[str] = Counter()
        self.sip_requests: Counter[str] = Counter()
        self.commits = 0

    def api_request(self, endpoint: str) -> None:
        """One request to a SIP-module endpoint `endpoint` ("list", "add", ...) arrived."""
        self.api_requests[endpoint] += 1

    def commit(self) -> None:
        """One request changed the stored state."""
        self.commits += 1

    def sip_request(self, method: str) -> None:
        """One SIP request with `method` arrived (any account, any transport)."""
        self.sip_requests[method] += 1

    @property
    def api_writes(self) -> int:
        """Requests received on the endpoints that write."""
        return sum(n for name, n in self.api_requests.items() if name in WRITE_ENDPOINTS)

    @property
    def sip_writes(self) -> int:
        """SIP requests received other than the pure queries."""
        return sum(n for m, n in self.sip_requests.items() if m not in READ_ONLY_SIP_METHODS)

    @property
    def writes(self) -> int:
        """Everything received that asks for a change: API write requests and SIP writes."""
        return self.api_writes + self.sip_writes

    def view(self) -> dict[str, object]:
        """The counters as reference/stats.json's data."""
        return {
            "writes": self.writes,
            "api_writes": self.api_writes,
            "sip_writes": self.sip_writes,
            "commits": self.commits,
            "api_requests": dict(sorted(self.api_requests.items())),
            "sip_requests": dict(sorted(self.sip_requests.items())),
        }
