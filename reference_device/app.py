"""The aiohttp application: routes, the JSON envelope, the GET/POST parameter merge, auth."""

import logging
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from reference_device.auth import TOKEN_HEADER, TOKEN_NAME
from reference_device.errors import ApiError, ErrorCode
from reference_device.faults import Fault, Faults
from reference_device.handlers import Api, Endpoint
from reference_device.params import Params
from reference_device.readings import Point, Readings

API_PREFIX: Final = "/api"
MAX_BODY: Final = 64 * 1024
# Endpoints callable without a token even when the device has credentials.
OPEN_PATHS: Final = frozenset({"/users/login.json"})
API_KEY: Final = web.AppKey("api", Api)

log = logging.getLogger(__name__)


async def read_params(request: web.Request, faults: Faults, readings: Readings) -> Params:
    """Query string, overlaid (on POST) by the form body; the first value of a repeated name.
    A POST reads only its body under post_parameter_carrier=form_body, only its query string
    under post_parameter_carrier=query_string."""
    post = request.method == "POST"
    values: dict[str, str] = {}
    if not (post and readings.follows(Point.POST_PARAMETER_CARRIER, "form_body")):
        for key, value in request.query.items():
            values.setdefault(key, value)
    body_read = not (
        faults.on(Fault.POST_BODY_IGNORED)
        or readings.follows(Point.POST_PARAMETER_CARRIER, "query_string")
    )
    if post and body_read:
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


def ok(payload: dict[str, object]) -> web.Response:
    """`{"result": "ok", ...payload}`."""
    return _json({"result": "ok", **payload})


def refused(code: ErrorCode) -> web.Response:
    """`{"result": "error", "msg": code}` with HTTP 200, as the page answers errors."""
    return _json({"result": "error", "msg": code.value})


def _http_error(exc: web.HTTPException) -> web.Response:
    allow = exc.headers.get("Allow")
    headers = {"Allow": allow} if allow else {}
    return _json({"result": "error", "msg": (exc.reason or "error").lower()}, exc.status, **headers)


@web.middleware
async def envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
    """JSON bodies for 404/405/413, and HTTP 500 JSON (logged) for any unexpected exception."""
    routing_error = request.match_info.http_exception
    if routing_error is not None:
        return _http_error(routing_error)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return _http_error(exc)
    except Exception:
        # State is safe: handlers only mutate a snapshot and commit it as their last step.
        log.exception("unexpected error in %s %s", request.method, request.path)
        return _json({"result": "error", "msg": "internal error"}, 500)


def _handler(api: Api, path: str, endpoint: Endpoint) -> Handler:
    needs_token = path not in OPEN_PATHS

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            params = await read_params(request, api.faults, api.readings)
            if needs_token:
                api.auth.check(
                    [
                        request.headers.get(TOKEN_HEADER),
                        request.cookies.get(TOKEN_NAME),
                        params.raw(TOKEN_NAME),
                    ]
                )
            payload = endpoint(params)
        except ApiError as exc:
            log.info("%s %s refused: %s", request.method, request.path, exc)
            response = refused(exc.code)
        else:
            response = ok(payload)
        if api.faults.on(Fault.JSON_AS_TEXT_HTML):
            response.content_type = "text/html"  # the fault: JSON labelled as an HTML page
        return response

    return handle


def make_app(api: Api) -> web.Application:
    """The web application serving `api` below /api."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[envelope])
    app[API_KEY] = api
    for path, endpoint in api.endpoints().items():
        handle = _handler(api, path, endpoint)
        # add_route("GET") registers no HEAD route, so HEAD gets the 405 other methods get.
        app.router.add_route("GET", API_PREFIX + path, handle)
        app.router.add_route("POST", API_PREFIX + path, handle)
    return app
