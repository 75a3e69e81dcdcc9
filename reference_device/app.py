"""The aiohttp application: routes, the JSON envelope, the GET/POST parameter merge, auth.

A write is answered once its state is on disk: the handler commits (the store writes in a worker
thread, grouping the commits of concurrent requests into one write), then awaits the commit,
so the event loop keeps serving reads and SIP while the disk works."""

import json
import logging
from types import MappingProxyType
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from reference_device.auth import TOKEN_HEADER, TOKEN_NAME
from reference_device.errors import ApiError, ErrorCode
from reference_device.faults import Fault, Faults
from reference_device.handlers import Api, Endpoint, Payload
from reference_device.params import Params
from reference_device.readings import Point, Readings
from reference_device.write_counter import endpoint_name

API_PREFIX: Final = "/api"
MAX_BODY: Final = 64 * 1024
# Endpoints callable without a token even when the device has credentials.
OPEN_PATHS: Final = frozenset({"/users/login.json"})
API_KEY: Final = web.AppKey("api", Api)
PATHS_KEY: Final = web.AppKey("paths", frozenset[str])
# What json_response sets, built once (Response copies it into each answer's own headers).
JSON_HEADERS: Final = MappingProxyType({"Content-Type": "application/json; charset=utf-8"})
ENCODED_KEPT: Final = 64  # encoded answers kept per endpoint
# The endpoints that write the state (the busy_write_refused fault refuses them).
WRITE_PATHS: Final = frozenset(
    f"/sip/{name}.json" for name in ("add", "modify", "remove", "modify_call_cfg", "set_binds")
)

log = logging.getLogger(__name__)
NO_PARAMS: Final = Params({})


class ParamReader:
    """Query string, overlaid (on POST) by the form body; the first value of a repeated name.
    A POST reads only its body under post_parameter_carrier=form_body, only its query string
    under post_parameter_carrier=query_string. The choices are fixed per process, so they are
    looked up once here rather than on every request."""

    def __init__(self, faults: Faults, readings: Readings) -> None:
        self.post_query = not readings.follows(Point.POST_PARAMETER_CARRIER, "form_body")
        self.post_body = not (
            faults.on(Fault.POST_BODY_IGNORED)
            or readings.follows(Point.POST_PARAMETER_CARRIER, "query_string")
        )

    def query(self, request: web.Request) -> dict[str, str]:
        """The query string's parameters (a POST's only under post_parameter_carrier allowing
        it)."""
        values: dict[str, str] = {}
        if request.query_string and (self.post_query or request.method != "POST"):
            for key, value in request.query.items():
                values.setdefault(key, value)
        return values

    async def read(self, request: web.Request) -> Params:
        """The request's parameters."""
        values = self.query(request)
        if request.method == "POST" and self.post_body:
            try:
                form = await request.post()
            except ValueError as exc:  # malformed multipart / undecodable body
                raise ApiError(ErrorCode.BAD_VALUE, f"unreadable body: {exc}") from exc
            body: dict[str, str] = {}
            for key, field in form.items():
                if isinstance(field, str):  # uploaded files are not parameters
                    body.setdefault(key, field)
            values.update(body)
        return Params(values)


def _json(body: dict[str, object], status: int = 200, **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers=headers or None)


def refused(code: ErrorCode) -> web.Response:
    """`{"result": "error", "msg": code}` with HTTP 200, as the page answers errors."""
    return _json({"result": "error", "msg": code.value})


def _http_error(exc: web.HTTPException) -> web.Response:
    allow = exc.headers.get("Allow")
    headers = {"Allow": allow} if allow else {}
    return _json({"result": "error", "msg": (exc.reason or "error").lower()}, exc.status, **headers)


async def fallback(request: web.Request) -> web.StreamResponse:
    """Every request no endpoint route takes: 405 (with Allow) on an endpoint's path, else 404.
    A route rather than a middleware, so the endpoints' own requests pay nothing for it."""
    if request.path in request.app[PATHS_KEY]:
        return _http_error(web.HTTPMethodNotAllowed(request.method, ["GET", "POST"]))
    return _http_error(web.HTTPNotFound())


def _handler(api: Api, path: str, endpoint: Endpoint, reader: ParamReader) -> Handler:
    store, auth = api.store, api.auth
    needs_token = path not in OPEN_PATHS and auth.required  # credentials are fixed at start
    as_html = api.faults.on(Fault.JSON_AS_TEXT_HTML)
    refuse_busy = path in WRITE_PATHS and api.faults.on(Fault.BUSY_WRITE_REFUSED)
    writes, counted = api.writes, endpoint_name(path)
    # Encoded ok answers by payload object: an endpoint that answers the very same object
    # again (list.json or status.json while nothing changed) is not encoded again.
    encoded: dict[int, tuple[Payload, bytes]] = {}

    async def handle(request: web.Request) -> web.StreamResponse:
        if counted is not None:  # on arrival: a refused write was still asked for
            writes.api_request(counted)
        if refuse_busy and store.busy:  # the fault: no queue for a write, a bare 503
            return web.Response(status=503, text="busy")
        try:
            if request.method == "POST":
                params = await reader.read(request)
            elif request.query_string:  # a GET: nothing to await
                params = Params(reader.query(request))
            else:
                params = NO_PARAMS
            if needs_token:
                auth.check(
                    [
                        request.headers.get(TOKEN_HEADER),
                        request.cookies.get(TOKEN_NAME),
                        params.raw(TOKEN_NAME),
                    ]
                )
            before = store.version
            try:
                payload = endpoint(params)
            finally:
                # A request that committed (even one refused after, as under partial_modify)
                # is answered once the commit is on disk; a failed write raises (HTTP 500).
                if store.version != before:
                    writes.commit()
                    await store.durable(store.version)
        except ApiError as exc:
            log.info("%s %s refused: %s", request.method, request.path, exc)
            response = refused(exc.code)
        except web.HTTPException as exc:  # 413 from the body reader
            return _http_error(exc)
        except Exception:
            # The state is safe: handlers change a snapshot and commit it as their last step.
            log.exception("unexpected error in %s %s", request.method, request.path)
            return _json({"result": "error", "msg": "internal error"}, 500)
        else:
            cached = encoded.get(id(payload))
            if cached is None or cached[0] is not payload:
                if len(encoded) >= ENCODED_KEPT:
                    encoded.clear()
                cached = encoded[id(payload)] = (payload, _encode_ok(payload))
            response = web.Response(body=cached[1], headers=JSON_HEADERS)
        if as_html:
            response.content_type = "text/html"  # the fault: JSON labelled as an HTML page
        return response

    return handle


def _encode_ok(payload: Payload) -> bytes:
    return json.dumps({"result": "ok", **payload}).encode()


def make_app(api: Api) -> web.Application:
    """The web application serving `api` below /api."""
    app = web.Application(client_max_size=MAX_BODY)
    app[API_KEY] = api
    api.store.group_commit = True
    # aiohttp's access log (one INFO line per request) costs a read about a fifth of its time;
    # refusals and errors are logged by the handlers themselves.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    reader = ParamReader(api.faults, api.readings)
    for path, endpoint in api.endpoints().items():
        handle = _handler(api, path, endpoint, reader)
        # add_route("GET") registers no HEAD route, so HEAD gets the 405 other methods get.
        app.router.add_route("GET", API_PREFIX + path, handle)
        app.router.add_route("POST", API_PREFIX + path, handle)
    app[PATHS_KEY] = frozenset(API_PREFIX + path for path in api.endpoints())
    app.router.add_route("*", "/{tail:.*}", fallback)
    return app
