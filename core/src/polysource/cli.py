"""The ``polysource`` command line. Heavy imports happen inside the command that needs them.

Conventions every command follows: data goes to stdout (``--json`` makes it JSON and nothing
else), logs and messages to stderr (``--log-level``); ``--config`` defaults to
``$POLYSOURCE_CONFIG``, then ``./polysource.toml``. Exit status 0 is success, 1 a failure at
run time (every provider failed, a bad configuration, a busy port), 2 a usage error (an
unknown option, dataset or operation; a bad key or parameter); ``health`` answers 0 healthy,
1 degraded, 2 down.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, Final, TypeVar

import click

if TYPE_CHECKING:
    from polysource.config import Config
    from polysource.orchestrator import Orchestrator

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])

_LEVELS: Final = ("debug", "info", "warning", "error")
_CHUNK: Final = 100
"""Keys per ``fetch_many`` call of ``fetch-many`` and ``warm`` (the progress bar's step)."""


def _default_config() -> str | None:
    from_env = os.environ.get("POLYSOURCE_CONFIG")
    if from_env:
        return from_env
    return "polysource.toml" if os.path.isfile("polysource.toml") else None


def config_option(command: F) -> F:
    """The ``--config`` option: ``$POLYSOURCE_CONFIG``, then ``./polysource.toml``."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=_default_config,
        show_default="$POLYSOURCE_CONFIG, then ./polysource.toml",
        help="polysource.toml to read.",
    )(command)


def json_option(command: F) -> F:
    """The ``--json`` flag: print JSON (and only JSON) on stdout."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")(command)


def _log_level() -> str | None:
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    level = ctx.find_root().params.get("log_level")
    return level if isinstance(level, str) else None


def _configure_logging(level: str) -> None:
    """Send every log line (structlog's and the standard library's) to stderr."""
    import logging

    import structlog

    number = getattr(logging, level.upper())
    logging.basicConfig(stream=sys.stderr, level=number, force=True)
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(number),
    )


def _config(config_path: str | None) -> Config:
    from polysource.config import load_config

    level = _log_level()
    overrides = {"telemetry": {"log_level": level}} if level else None
    return load_config(config_path, overrides=overrides)


def _orchestrator(config_path: str | None) -> Orchestrator:
    from polysource.orchestrator import Orchestrator

    return Orchestrator(_config(config_path))


def _echo_json(value: object) -> None:
    import orjson

    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _problem(exc: Exception) -> dict[str, Any]:
    from polysource.gateway.problems import Redactor, from_exception

    return from_exception(exc).document(Redactor(()), "")


@contextlib.contextmanager
def _errors(as_json: bool = False) -> Iterator[None]:
    """Turn polysource errors into a message on stderr and an exit status.

    A request the command line got wrong (unknown dataset, operation or region; a bad key or
    parameter) exits 2 like any usage error; other failures exit 1. With ``--json`` the
    problem document is printed on stdout too.
    """
    from polysource.errors import (
        InvalidRequest,
        PolysourceError,
        UnknownDataset,
        UnknownOperation,
        UnknownRegion,
    )

    try:
        yield
    except PolysourceError as exc:
        if _debugging():
            raise
        if as_json:
            _echo_json({"error": _problem(exc)})
        lines = [exc.message if isinstance(exc, ExceptionGroup) else str(exc)]
        lines += [f"  {error}" for error in getattr(exc, "errors", ())]
        if isinstance(exc, InvalidRequest | UnknownDataset | UnknownOperation | UnknownRegion):
            raise click.UsageError("\n".join(lines)) from None
        raise click.ClickException("\n".join(lines)) from None


def _debugging() -> bool:
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.find_root().params.get("debug") is True


class _Commands(click.Group):
    """The command group: an error that stops a command is one ``Error:`` line, exit code 1.

    Configuration, plugin and other polysource errors a command does not handle itself, and a
    file the system refuses, are shown as click shows its own errors (usage errors keep click's
    exit code 2). ``--debug`` or ``POLYSOURCE_DEBUG=1`` lets the exception through, with its
    traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        from polysource.errors import PolysourceError

        try:
            return super().invoke(ctx)
        except (PolysourceError, OSError) as exc:
            if ctx.params.get("debug") is True:
                raise
            raise click.ClickException(_one_line(exc)) from None


def _one_line(exc: BaseException) -> str:
    message = exc.message if isinstance(exc, BaseExceptionGroup) else str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        message = f"{exc.strerror or message}: {os.fspath(exc.filename)!r}"
    return "; ".join(line.strip() for line in message.splitlines() if line.strip()) or repr(exc)


@click.group(cls=_Commands)
@click.version_option(package_name="polysource")
@click.option(
    "--log-level",
    type=click.Choice(_LEVELS),
    default=None,
    help="Level of the log lines written to stderr (default: [telemetry] log_level).",
)
@click.option(
    "--debug",
    is_flag=True,
    envvar="POLYSOURCE_DEBUG",
    help="Show the traceback of an error that stops a command (also POLYSOURCE_DEBUG=1).",
)
def main(log_level: str | None, debug: bool) -> None:
    """polysource: many data providers, one reliable source.

    Data is printed on stdout, logs on stderr. Exit status: 0 success, 1 failure, 2 usage
    error (health: 0 healthy, 1 degraded, 2 down).
    """
    _configure_logging(log_level or "warning")


# -- reading ---------------------------------------------------------------------------------


def _result_json(result: Any) -> dict[str, Any]:
    from polysource.gateway.problems import provider_errors
    from polysource.gateway.render import converter

    return {
        "data": converter.unstructure(result.data),
        "source": result.source,
        "cached": result.cached,
        "stale": result.stale,
        "age": result.age,
        "attempts": result.attempts,
        "errors": provider_errors(result.errors),
    }


def _value_table(title: str, data: object, meta: dict[str, object], errors: list[Any]) -> Any:
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for name, value in data.items() if isinstance(data, dict) else [("value", data)]:
        if value is not None:
            table.add_row(name, str(value))
    table.add_section()
    for name, value in meta.items():
        table.add_row(name, str(value))
    for error in errors:
        table.add_row("error", f"{error['provider']}: {error['category']}: {error['message']}")
    return table


def _print(renderable: Any) -> None:
    from rich.console import Console

    Console().print(renderable)


@main.command()
@click.argument("dataset")
@click.argument("key")
@click.option("--region", default=None, help="Routing region (default from config).")
@click.option("--tier", default=None, help="Caller tier: free, basic or premium.")
@click.option("--tenant", default=None, help="Tenant, for private datasets.")
@click.option("--max-age", type=float, default=None, help="Oldest cached value to accept (s).")
@click.option("--force-refresh", is_flag=True, help="Ask the providers even if cached.")
@click.option("--no-stale", is_flag=True, help="Never answer with a stale value.")
@json_option
@config_option
def fetch(
    dataset: str,
    key: str,
    region: str | None,
    tier: str | None,
    tenant: str | None,
    max_age: float | None,
    force_refresh: bool,
    no_stale: bool,
    as_json: bool,
    config_path: str | None,
) -> None:
    """Fetch one value and show it with where it came from."""
    import asyncio

    options: dict[str, Any] = {"allow_stale": not no_stale, "force_refresh": force_refresh}
    if max_age is not None:
        options["max_age"] = max_age

    async def run() -> dict[str, Any]:
        async with _orchestrator(config_path) as orch:
            result = await orch.fetch(
                dataset, key, region=region, tier=tier, tenant=tenant, **options
            )
            return _result_json(result)

    with _errors(as_json):
        answer = asyncio.run(run())
    if as_json:
        _echo_json(answer)
        return
    meta = {name: answer[name] for name in ("source", "cached", "stale", "attempts")}
    _print(_value_table(f"{dataset} {key}", answer["data"], meta, answer["errors"]))


def _read_keys(source: IO[str]) -> list[str]:
    """Keys, one a line; blank lines and ``#`` comments skipped."""
    keys = []
    for line in source:
        text = line.strip()
        if text and not text.startswith("#"):
            keys.append(text)
    return keys


async def _fetch_chunks(
    orch: Orchestrator, dataset: str, keys: list[str], label: str, **options: Any
) -> dict[str, Any]:
    """``fetch_many`` in chunks, with a progress bar on stderr when it is a terminal."""
    from rich.console import Console
    from rich.progress import Progress

    from polysource.gateway.render import converter
    from polysource.models import BatchResult

    results: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    batches = cached = 0
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(label, total=len(keys))
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            batch: BatchResult[Any] = await orch.fetch_many(dataset, chunk, **options)
            for name, result in batch.results.items():
                results[name] = {
                    "data": converter.unstructure(result.data),
                    "source": result.source,
                    "cached": result.cached,
                    "stale": result.stale,
                }
            for name, error in batch.errors.items():
                errors[name] = _problem(error)
            batches += batch.summary.batches
            cached += batch.summary.cached
            progress.advance(task, len(chunk))
    summary = {
        "total": len(keys),
        "successful": len(results),
        "failed": len(errors),
        "cached": cached,
        "batches": batches,
    }
    return {"results": results, "errors": errors, "summary": summary}


@main.command("fetch-many")
@click.argument("dataset")
@click.argument("keys_file", metavar="[FILE]", type=click.File("r"), default="-")
@click.option("--region", default=None, help="Routing region (default from config).")
@click.option("--tier", default=None, help="Caller tier: free, basic or premium.")
@click.option("--tenant", default=None, help="Tenant, for private datasets.")
@json_option
@config_option
def fetch_many(
    dataset: str,
    keys_file: IO[str],
    region: str | None,
    tier: str | None,
    tenant: str | None,
    as_json: bool,
    config_path: str | None,
) -> None:
    """Fetch the keys in FILE (one a line; default stdin) in provider batches.

    A progress bar is drawn on stderr when it is a terminal. Exits 1 when any key failed.
    """
    import asyncio

    keys = _read_keys(keys_file)
    if not keys:
        raise click.UsageError("no keys given (one a line, in FILE or on stdin)")

    async def run() -> dict[str, Any]:
        async with _orchestrator(config_path) as orch:
            return await _fetch_chunks(
                orch, dataset, keys, dataset, region=region, tier=tier, tenant=tenant
            )

    with _errors(as_json):
        answer = asyncio.run(run())
    if as_json:
        _echo_json(answer)
    else:
        from rich.table import Table

        table = Table(title=f"{dataset}: {len(keys)} keys")
        for column in ("key", "source", "notes", "value"):
            table.add_column(column)
        for name in keys:
            if name in answer["results"]:
                row = answer["results"][name]
                notes = ", ".join(n for n in ("cached", "stale") if row[n]) or "fresh"
                table.add_row(name, row["source"], notes, _short(row["data"]))
            elif name in answer["errors"]:
                problem = answer["errors"][name]
                table.add_row(name, "-", f"failed: {problem.get('category', '?')}", "-")
        _print(table)
        s = answer["summary"]
        click.echo(
            f"{s['successful']} of {s['total']} answered ({s['cached']} cached), "
            f"{s['failed']} failed, {s['batches']} provider batch calls",
            err=True,
        )
    if answer["errors"]:
        sys.exit(1)


def _short(data: object, width: int = 60) -> str:
    if isinstance(data, dict):
        text = ", ".join(f"{k}={v}" for k, v in data.items() if v is not None and k != "symbol")
    else:
        text = str(data)
    return text if len(text) <= width else text[: width - 1] + "…"


@main.command()
@click.argument("dataset")
@click.argument("key")
@click.option("--strategy", default=None, help="Merge strategy (default: the dataset's).")
@click.option("--min-providers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--provider", "providers", multiple=True, help="Ask only these (repeatable).")
@click.option("--region", default=None, help="Routing region (default from config).")
@click.option("--tier", default=None, help="Caller tier: free, basic or premium.")
@click.option("--tenant", default=None, help="Tenant, for private datasets.")
@json_option
@config_option
def merged(
    dataset: str,
    key: str,
    strategy: str | None,
    min_providers: int,
    providers: tuple[str, ...],
    region: str | None,
    tier: str | None,
    tenant: str | None,
    as_json: bool,
    config_path: str | None,
) -> None:
    """Ask several providers at once and merge their answers."""
    import asyncio

    import orjson

    from polysource.gateway.render import merged_body

    async def run() -> dict[str, Any]:
        async with _orchestrator(config_path) as orch:
            result = await orch.fetch_merged(
                dataset,
                key,
                region=region,
                tier=tier,
                tenant=tenant,
                strategy=strategy,
                min_providers=min_providers,
                providers=list(providers) or None,
            )
            answer: dict[str, Any] = orjson.loads(merged_body(result))
            return answer

    with _errors(as_json):
        answer = asyncio.run(run())
    if as_json:
        _echo_json(answer)
        return
    meta = {
        "strategy": answer["strategy"],
        "sources": ", ".join(answer["sources"]),
        "attempts": answer["attempts"],
    }
    _print(_value_table(f"{dataset} {key} (merged)", answer["data"], meta, answer["errors"]))


@main.command()
@click.argument("operation")
@click.option(
    "--params",
    "params_text",
    default=None,
    help="The operation's parameters as a JSON object, or @FILE to read them from a file.",
)
@click.option("--tenant", default=None, help="The tenant the operation acts for.")
@click.option("--region", default=None, help="Routing region (default from config).")
@click.option("--tier", default=None, help="Caller tier: free, basic or premium.")
@click.option("--prefer", default=None, help="A provider to try first.")
@json_option
@config_option
def execute(
    operation: str,
    params_text: str | None,
    tenant: str | None,
    region: str | None,
    tier: str | None,
    prefer: str | None,
    as_json: bool,
    config_path: str | None,
) -> None:
    """Run an operation (``create_link``, ``get_accounts``, ...) with failover."""
    import asyncio

    import orjson

    from polysource.gateway.render import operation_body
    from polysource.models import OperationResult

    params: object = None
    if params_text is not None:
        text = params_text
        if text.startswith("@"):
            try:
                with open(text[1:], encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as exc:
                raise click.BadParameter(str(exc.strerror), param_hint="--params") from None
        try:
            params = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise click.BadParameter("not a JSON object", param_hint="--params") from None
        if not isinstance(params, dict):
            raise click.BadParameter("not a JSON object", param_hint="--params")

    async def run() -> dict[str, Any]:
        async with _orchestrator(config_path) as orch:
            result: OperationResult[Any] = await orch.execute(
                operation, params, tenant=tenant, region=region, tier=tier, prefer=prefer
            )
            answer: dict[str, Any] = orjson.loads(operation_body(result))
            return answer

    with _errors(as_json):
        answer = asyncio.run(run())
    if as_json:
        _echo_json(answer)
        return
    meta = {
        "provider": answer["provider"],
        "failover": answer["failover_used"],
        "attempts": answer["attempts"],
    }
    _print(_value_table(operation, answer["data"], meta, answer["errors"]))


# -- operating -------------------------------------------------------------------------------

_HEALTH_EXIT: Final = {"healthy": 0, "degraded": 1, "down": 2}


def _gateway_url(url: str | None, config_path: str | None) -> str:
    if url:
        return url.rstrip("/")
    with _errors():
        section = _config(config_path).gateway
    wildcard = section.host in ("0.0.0.0", "::", "")  # noqa: S104 - a client never dials these
    host = "127.0.0.1" if wildcard else section.host
    return f"http://{host}:{section.port}"


async def _get_json(
    url: str, *, method: str = "GET", token: str | None = None, body: object = None
) -> tuple[int, Any]:
    """One request to a running gateway: its status and decoded JSON body.

    Raises:
        click.ClickException: The gateway cannot be reached or did not answer JSON.
    """
    import aiohttp
    import orjson

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.request(method, url, headers=headers, json=body) as response,
        ):
            raw = await response.read()
            return response.status, orjson.loads(raw)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise click.ClickException(f"cannot reach {url}: {type(exc).__name__}") from None
    except orjson.JSONDecodeError:
        raise click.ClickException(f"{url} did not answer JSON") from None


def _canary(value: object) -> tuple[str, str] | None:
    if not isinstance(value, str) or ":" not in value:
        return None
    dataset, _, key = value.partition(":")
    return (dataset, key) if dataset and key else None


async def _probe(orch: Orchestrator, canaries: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Ask each provider that has a canary key for it (one provider at a time, uncached)."""
    from polysource.errors import PolysourceError

    providers: dict[str, Any] = {}
    for name in sorted(orch.registry.providers):
        canary = canaries.get(name)
        report = orch.health().get(name)
        entry: dict[str, Any] = {
            "status": "unprobed",
            "canary": None,
            "breaker": report.breaker.value if report else None,
            "latency": None,
            "error": None,
        }
        if canary is not None:
            dataset, key = canary
            entry["canary"] = f"{dataset}:{key}"
            started = orch.clock.monotonic()
            try:
                await orch.fetch_merged(dataset, key, providers=[name], min_providers=1)
            except PolysourceError as exc:
                errors = getattr(exc, "errors", ())
                entry["status"] = "down"
                entry["error"] = (
                    "; ".join(f"{e.category}: {e.message}"[:120] for e in errors) or str(exc)[:120]
                )
            else:
                entry["status"] = "healthy"
            entry["latency"] = orch.clock.monotonic() - started
        providers[name] = entry
    probed = [p["status"] for p in providers.values() if p["status"] != "unprobed"]
    if not probed:
        overall = "unknown"
    elif all(s == "healthy" for s in probed):
        overall = "healthy"
    elif all(s == "down" for s in probed):
        overall = "down"
    else:
        overall = "degraded"
    return {"status": overall, "providers": providers}


@main.command()
@click.option("--url", default=None, help="Ask a running gateway (GET URL/health).")
@click.option(
    "--canary",
    "canaries",
    multiple=True,
    metavar="PROVIDER=DATASET:KEY",
    help="A provider's canary key (default: [providers.NAME.options] canary).",
)
@json_option
@config_option
def health(
    url: str | None, canaries: tuple[str, ...], as_json: bool, config_path: str | None
) -> None:
    """Report provider health; exit 0 healthy, 1 degraded, 2 down.

    With --url, a running gateway reports the health it has seen. Without, each provider is
    probed with its canary key (``[providers.NAME.options] canary = "quote:AAPL"`` or
    --canary); providers without one are listed as unprobed. When none can be probed the
    command says so and exits 1.
    """
    import asyncio

    if url is not None:
        status, body = asyncio.run(_get_json(f"{url.rstrip('/')}/health"))
        if not isinstance(body, dict) or "status" not in body:
            raise click.ClickException(f"{url} answered {status} without a health report")
    else:
        given: dict[str, tuple[str, str]] = {}
        for item in canaries:
            name, _, value = item.partition("=")
            parsed = _canary(value)
            if not name or parsed is None:
                raise click.BadParameter(
                    f"{item[:40]!r} is not PROVIDER=DATASET:KEY", param_hint="--canary"
                )
            given[name] = parsed

        async def run() -> dict[str, Any]:
            async with _orchestrator(config_path) as orch:
                found = {
                    name: parsed
                    for name, settings in orch.config.providers.items()
                    if (parsed := _canary(settings.options.get("canary"))) is not None
                }
                return await _probe(orch, {**found, **given})

        with _errors(as_json):
            body = asyncio.run(run())
    if as_json:
        _echo_json(body)
    else:
        from rich.table import Table

        table = Table(title=f"health: {body['status']}")
        for column in ("provider", "status", "breaker", "latency", "last error"):
            table.add_column(column)
        for name, item in sorted(body.get("providers", {}).items()):
            latency = item.get("latency")
            table.add_row(
                name,
                str(item.get("status")),
                str(item.get("breaker") or "-"),
                f"{latency * 1000:.1f} ms" if isinstance(latency, int | float) else "-",
                str(item.get("error") or item.get("last_error") or "-"),
            )
        _print(table)
    if body["status"] == "unknown":
        click.echo("no provider has a canary key to probe (see --canary)", err=True)
        sys.exit(1)
    sys.exit(_HEALTH_EXIT.get(body["status"], 2))


@main.command()
@click.option("--url", default=None, help="The gateway (default: [gateway] host and port).")
@json_option
@config_option
def stats(url: str | None, as_json: bool, config_path: str | None) -> None:
    """Print a running gateway's counters (GET URL/stats)."""
    import asyncio

    base = _gateway_url(url, config_path)
    status, body = asyncio.run(_get_json(f"{base}/stats"))
    if status != 200 or not isinstance(body, dict):
        raise click.ClickException(f"{base}/stats answered {status}")
    if as_json:
        _echo_json(body)
        return
    from rich.table import Table

    click.echo(
        f"requests {body.get('requests', 0)}, cache hit rate {body.get('hit_rate', 0):.0%}, "
        f"stale answers {body.get('stale_served', 0)}, batches {body.get('batches', 0)}, "
        f"deduplicated {body.get('deduplicated', 0)}"
    )
    table = Table(title="providers")
    for column in ("provider", "calls", "ok", "failed", "retries", "skipped"):
        table.add_column(column)
    for name, c in sorted(body.get("providers", {}).items()):
        table.add_row(
            name,
            *(
                str(c.get(k, 0))
                for k in ("attempts", "successes", "failures", "retries", "skipped")
            ),
        )
    _print(table)


@main.command()
@click.argument("dataset")
@click.argument("keys_file", metavar="[FILE]", type=click.File("r"), default="-")
@click.option("--region", default=None, help="Routing region (default from config).")
@click.option("--tier", default=None, help="Caller tier: free, basic or premium.")
@click.option(
    "--url",
    default=None,
    help="Warm a running gateway (POST URL/v1/admin/prefetch with $POLYSOURCE_ADMIN_TOKEN).",
)
@json_option
@config_option
def warm(
    dataset: str,
    keys_file: IO[str],
    region: str | None,
    tier: str | None,
    url: str | None,
    as_json: bool,
    config_path: str | None,
) -> None:
    """Warm the cache with the keys in FILE (one a line; default stdin).

    Without --url the keys are fetched in this process into the configured shared tiers
    (Redis, SQL), which every process using them then reads. With --url, a running gateway
    fetches them into its own tiers. Exits 1 when any key failed.
    """
    import asyncio

    keys = _read_keys(keys_file)
    if not keys:
        raise click.UsageError("no keys given (one a line, in FILE or on stdin)")
    if url is not None:
        token = os.environ.get("POLYSOURCE_ADMIN_TOKEN")
        if not token:
            raise click.UsageError("--url needs the admin token in $POLYSOURCE_ADMIN_TOKEN")
        warmed, failed = 0, []
        for start in range(0, len(keys), _CHUNK):
            body: dict[str, Any] = {"dataset": dataset, "keys": keys[start : start + _CHUNK]}
            body.update({k: v for k, v in (("region", region), ("tier", tier)) if v})
            status, answer = asyncio.run(
                _get_json(
                    f"{url.rstrip('/')}/v1/admin/prefetch", method="POST", token=token, body=body
                )
            )
            if status != 200:
                detail = answer.get("detail") if isinstance(answer, dict) else None
                raise click.ClickException(f"the gateway answered {status}: {detail}")
            warmed += answer["warmed"]
            failed += answer["failed"]
        summary: dict[str, Any] = {"total": len(keys), "warmed": warmed, "failed": failed}
    else:

        async def run() -> dict[str, Any]:
            async with _orchestrator(config_path) as orch:
                if len(orch.config.cache.tiers) < 2:
                    click.echo(
                        "note: only the in-process memory tier is configured; "
                        "nothing outlives this command",
                        err=True,
                    )
                return await _fetch_chunks(
                    orch, dataset, keys, f"warming {dataset}", region=region, tier=tier
                )

        with _errors(as_json):
            answer = asyncio.run(run())
        summary = {
            "total": len(keys),
            "warmed": answer["summary"]["successful"],
            "failed": sorted(answer["errors"]),
        }
    if as_json:
        _echo_json(summary)
    else:
        click.echo(f"warmed {summary['warmed']} of {summary['total']} {dataset} keys")
        if summary["failed"]:
            click.echo(f"failed: {', '.join(summary['failed'])}", err=True)
    if summary["failed"]:
        sys.exit(1)


# -- plugins, emulators, demo, serving -------------------------------------------------------


def _plugins_json(registry: Any) -> dict[str, Any]:
    return {
        "plugins": [
            {
                "name": r.name,
                "distribution": r.distribution,
                "version": r.version,
                "ok": r.ok,
                "error": r.error,
                "providers": sorted(
                    e.info.name for e in registry.providers.values() if e.plugin == r.name
                ),
            }
            for r in registry.plugins
        ],
        "providers": {
            name: {
                "plugin": entry.plugin,
                "datasets": sorted(entry.info.datasets),
                "operations": sorted(entry.info.operations),
                "regions": dict(entry.info.regions),
                "max_batch_size": entry.info.max_batch_size,
            }
            for name, entry in sorted(registry.providers.items())
        },
        "datasets": {
            name: {
                "schema": ds.schema.__name__,
                "private": ds.private,
                "ttl": dict(ds.policy.ttl),
                "stale": ds.policy.stale,
            }
            for name, ds in sorted(registry.datasets.items())
        },
        "operations": sorted(registry.operations),
        "emulators": sorted(registry.emulators),
        "broken": [r.name for r in registry.plugins if not r.ok],
    }


@main.command()
@json_option
@config_option
def plugins(as_json: bool, config_path: str | None) -> None:
    """List installed plugins, their providers, datasets and regions, and broken ones.

    Exits 1 with a one-line error when plugins cannot be resolved at all (two plugins
    register the same name, or a plugin fails under POLYSOURCE_STRICT_PLUGINS=1) or the
    configuration is invalid.
    """
    import asyncio

    from rich.table import Table

    from polysource.errors import ConfigError, PluginError

    try:
        registry = asyncio.run(_orchestrator(config_path).check_providers())
    except (PluginError, ConfigError) as exc:
        if _debugging():
            raise
        raise click.ClickException(str(exc)) from None
    strict_failure = bool(registry.broken) and os.environ.get("POLYSOURCE_STRICT_PLUGINS") == "1"
    if as_json:
        _echo_json(_plugins_json(registry))
        if strict_failure:
            sys.exit(1)
        return
    table = Table(title="polysource plugins")
    for column in ("plugin", "distribution", "version", "providers", "status"):
        table.add_column(column)
    for report in registry.plugins:
        providers = [e.info.name for e in registry.providers.values() if e.plugin == report.name]
        table.add_row(
            report.name,
            report.distribution or "-",
            report.version or "-",
            ", ".join(providers) or "-",
            "ok" if report.ok else f"[red]broken[/red]: {report.error}",
        )
    _print(table)
    ptable = Table(title="providers")
    for column in ("provider", "plugin", "datasets", "operations", "regions (rank)", "batch"):
        ptable.add_column(column)
    for name, entry in sorted(registry.providers.items()):
        info = entry.info
        ptable.add_row(
            name,
            entry.plugin,
            ", ".join(sorted(info.datasets)) or "-",
            ", ".join(sorted(info.operations)) or "-",
            ", ".join(f"{r} ({k})" for r, k in sorted(info.regions.items(), key=lambda i: i[1])),
            str(info.max_batch_size),
        )
    _print(ptable)
    dtable = Table(title="datasets")
    for column in ("dataset", "schema", "private", "ttl free/basic/premium (s)", "stale (s)"):
        dtable.add_column(column)
    for name, ds in sorted(registry.datasets.items()):
        ttl = "/".join(f"{ds.policy.ttl[t]:g}" for t in ("free", "basic", "premium"))
        dtable.add_row(
            name, ds.schema.__name__, "yes" if ds.private else "no", ttl, f"{ds.policy.stale:g}"
        )
    _print(dtable)
    if strict_failure:
        sys.exit(1)


@main.command()
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of injected faults.")
@click.option(
    "--serve",
    "then_serve",
    is_flag=True,
    help="After the scenes, keep the gateway and its dashboard running against the emulators.",
)
@click.option("--port", type=int, default=8080, show_default=True, help="Port with --serve.")
def demo(seed: int, then_serve: bool, port: int) -> None:
    """Run the engine and the installed plugins against local emulators (no network, no keys).

    With --serve, the gateway is then served on 127.0.0.1 over the same orchestrator and
    emulators until Ctrl-C; the dashboard's one-time admin token is printed.
    """
    import asyncio
    import secrets

    from polysource.demo import run_demo

    async def serve_gateway(orch: Orchestrator, emulators: Any) -> None:
        from polysource.config import GatewayConfig, Secret
        from polysource.gateway import create_app
        from polysource.gateway import serve as run

        token = secrets.token_urlsafe(24)
        section = GatewayConfig(port=port, admin_token=Secret.of(token))
        app = create_app(orch, section, own_orchestrator=False)

        def ready(url: str) -> None:
            click.echo("")
            click.echo(f"gateway:   {url}  (try {url}/v1/quote/AAPL, {url}/openapi.json)")
            click.echo(f"dashboard: {url}/dashboard  (admin token for this run: {token})")
            click.echo(f"emulators: {', '.join(f'{n} {u}' for n, (u, _) in emulators.items())}")
            click.echo("Ctrl-C stops it.")

        await run(app, "127.0.0.1", port, ready=ready)

    with _errors():
        _, failed = asyncio.run(run_demo(seed=seed, then=serve_gateway if then_serve else None))
    if failed:
        sys.exit(1)


@main.command()
@click.argument("name")
@click.option("--port", type=int, default=None, help="Port (default: the emulator's own).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--fault-rate", type=float, default=0.0, help="Share of requests answered 500.")
@click.option("--latency", type=float, default=0.0, help="Seconds added to every request.")
@click.option("--rate-limit-rate", type=float, default=0.0, help="Share answered 429.")
@click.option("--retry-after", type=float, default=1.0, help="Retry-After of injected 429s.")
@click.option("--malformed-rate", type=float, default=0.0, help="Share answered with bad JSON.")
@click.option("--outage", is_flag=True, help="Answer every request 503.")
@click.option("--seed", type=int, default=0, help="Seed of faults and generated data.")
def emulate(
    name: str,
    port: int | None,
    host: str,
    fault_rate: float,
    latency: float,
    rate_limit_rate: float,
    retry_after: float,
    malformed_rate: float,
    outage: bool,
    seed: int,
) -> None:
    """Serve a provider's API emulator, e.g. ``polysource emulate tiingo --port 8001``.

    The address is printed once the socket is bound; a port in use is a one-line error.
    """
    import asyncio

    from polysource.emulation import Faults
    from polysource.gateway.serve import serve as run
    from polysource.orchestrator import Orchestrator

    emulators = Orchestrator().registry.emulators
    spec = emulators.get(name)
    if spec is None:
        known = ", ".join(sorted(emulators)) or "(none installed)"
        raise click.BadParameter(f"no emulator {name!r}; emulators: {known}", param_hint="NAME")
    try:
        faults = Faults(
            error_rate=fault_rate,
            latency=latency,
            rate_limit_rate=rate_limit_rate,
            retry_after=retry_after,
            malformed_rate=malformed_rate,
            outage=outage,
            seed=seed,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    chosen = port if port is not None else (spec.default_port or 0)

    def ready(url: str) -> None:
        click.echo(f"{name} emulator: {spec.description}")
        click.echo(f"serving on {url} (faults: POST /_emulator/faults)")

    from polysource.errors import ConfigError

    try:
        asyncio.run(run(spec.factory(faults), host, chosen, ready=ready))
    except ConfigError as exc:
        raise click.ClickException(str(exc).removeprefix(f"{exc.path}: ")) from None


@main.command()
@click.option("--host", default=None, help="Address to listen on (default: [gateway] host).")
@click.option("--port", type=int, default=None, help="Port (default: [gateway] port; 0: any).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes (more than 1 runs gunicorn's aiohttp worker: polysource[serve]).",
)
@click.option(
    "--graceful-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds a stopping worker lets requests in flight finish (with --workers).",
)
@config_option
def serve(
    host: str | None,
    port: int | None,
    workers: int,
    graceful_timeout: float,
    config_path: str | None,
) -> None:
    """Serve the HTTP gateway (data, admin, health, dashboard and /openapi.json routes)."""
    import asyncio

    from polysource.gateway import create_app
    from polysource.gateway import serve as run

    def ready(url: str) -> None:
        click.echo(f"polysource gateway serving on {url} (OpenAPI: {url}/openapi.json)")
        sys.stdout.flush()

    with _errors():
        config = _config(config_path)
        section = config.gateway
        if workers > 1:
            from polysource.gateway.workers import run_workers

            level = _log_level()

            def make_config() -> Config:
                from polysource.config import load_config

                overrides = {"telemetry": {"log_level": level}} if level else None
                return load_config(config_path, overrides=overrides)

            run_workers(
                make_config,
                host if host is not None else section.host,
                port if port is not None else section.port,
                workers,
                graceful_timeout=graceful_timeout,
                ready=ready,
            )
            return
        from polysource.gateway.metrics import exporters
        from polysource.orchestrator import Orchestrator

        app = create_app(Orchestrator(config, plugins=exporters(config)))
        asyncio.run(
            run(
                app,
                host if host is not None else section.host,
                port if port is not None else section.port,
                ready=ready,
            )
        )


@main.group()
def jobs() -> None:
    """Scheduled jobs: list them, run one now."""


def _job_row(info: Any) -> list[str]:
    import datetime as dt

    def when(value: float | None) -> str:
        if value is None:
            return "-"
        return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")

    return [
        info.name,
        info.kind,
        info.schedule + (" (paused)" if info.paused else ""),
        when(info.next_run),
        when(info.last_run),
        info.last_outcome or "-",
        f"{info.runs}/{info.keys_refreshed}/{info.failures}",
    ]


def _jobs_table(infos: list[Any]) -> Any:
    from rich.table import Table

    table = Table(
        "job", "kind", "schedule", "next run (UTC)", "last run", "outcome", "runs/keys/failures"
    )
    for info in infos:
        table.add_row(*_job_row(info))
    return table


@jobs.command("list")
@json_option
@config_option
def jobs_list(config_path: str | None, as_json: bool) -> None:
    """List the jobs of the configuration with their schedules and next runs."""

    async def run() -> list[Any]:
        async with _orchestrator(config_path) as orch:
            return orch.jobs.list()

    import asyncio

    with _errors(as_json):
        infos = asyncio.run(run())
    if as_json:
        _echo_json({"jobs": [info.as_dict() for info in infos]})
    else:
        _print(_jobs_table(infos))


@jobs.command("run")
@click.argument("name")
@json_option
@config_option
def jobs_run(name: str, config_path: str | None, as_json: bool) -> None:
    """Run job NAME now (enqueued for the workers when a job runner plugin is configured)."""

    async def run() -> Any:
        async with _orchestrator(config_path) as orch:
            return await orch.jobs.run_now(name)

    import asyncio

    with _errors(as_json):
        info = asyncio.run(run())
    if as_json:
        _echo_json({"job": info.as_dict()})
    else:
        _print(_jobs_table([info]))
    if info.last_outcome and info.last_outcome.startswith("error"):
        raise SystemExit(1)


@main.command()
@config_option
def worker(config_path: str | None) -> None:
    """Run the scheduled jobs as one of the workers of [jobs_queue] (until SIGTERM or Ctrl-C).

    Each scheduled tick runs once among all the workers; `polysource jobs run NAME` queues a
    run for them.
    """

    async def run() -> None:
        from polysource.errors import ConfigError
        from polysource.jobs.scheduler import JobWorker

        async with _orchestrator(config_path) as orch:
            runner = orch.jobs.runner
            if not isinstance(runner, JobWorker):
                raise ConfigError(
                    'polysource worker needs a queue: set [jobs_queue] url = "redis://..." '
                    "and install polysource-redis[worker]",
                    path="jobs_queue.url",
                )
            click.echo(f"worker: {len(orch.jobs)} job(s) from {runner!r}", err=True)
            await runner.work()

    import asyncio

    with _errors():
        asyncio.run(run())
