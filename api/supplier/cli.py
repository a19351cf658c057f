"""``tuanchain supplier …``: onboarding, batches, trail events, sensor readings and recalls.

    tuanchain supplier keystore-new FILE
    tuanchain supplier apply --profile P.json --credentials LICENCE.pdf [--leader]
    tuanchain supplier register-batch GTIN LOT [--metadata M.json | --product P.json]
    tuanchain supplier add-event GTIN LOT (--file EPCIS.json | --kind commissioning …) [--merkle]
    tuanchain supplier sensors GTIN LOT READINGS.csv --location GLN --min 0 --max 4 [--merkle]
    tuanchain supplier recall GTIN LOT --reason "…"
    tuanchain supplier writer GTIN LOT ADDRESS [--remove]
    tuanchain supplier claims [--supplier ADDRESS | --keystore FILE] [--all [--before N]] [--json]
    tuanchain supplier answer-claim DEAL_ID BUYER --accept|--reject

Every action is prepared by the service (``--api``, default ``TUANCHAIN_PUBLIC_URL``), signed
here with ``--keystore`` (``TUANCHAIN_KEYSTORE``; password from ``TUANCHAIN_KEYSTORE_PASSWORD``
or a prompt) and relayed (the platform pays gas), or sent from the supplier's own account with
``--direct`` (through ``TUANCHAIN_RPC_URL``). Several events are anchored one by one, or with
``--merkle`` under one Merkle root in one transaction. Bad input, a wrong password or a refused
call: one line on stderr and exit code 1. ``claims`` only reads (nothing signed: the keystore,
if given instead of ``--supplier``, only names the account).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from eth_account.signers.local import LocalAccount
from pydantic import ValidationError
from rich.console import Console
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # typer's own click
from typer.core import TyperGroup

from api.relayer.action_params import MAX_ROOT_EVENTS
from api.relayer.prepare import json_bytes
from api.relayer.prepare.builder import event_anchor, root_anchor
from api.render import messages
from api.supplier import inputs, keystore, masterdata
from api.supplier.errors import InputError, KeystoreError, ServiceRefused, SupplierCliError
from api.supplier.service import CONTENT_TYPES, Service, send_directly
from chain.clients import BatchStatus, ClaimStatus, PartyStatus
from chain.errors import ChainError
from traceability.digital_link import batch_id_of
from traceability.errors import TraceabilityError


class _OneLineUsageErrors(TyperGroup):
    """A missing option, a number that is none or an unknown verb is bad input like any other:
    one line on stderr and exit code 1 (the README's promise to an ERP's scripts), not click's
    framed usage text and exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            if isinstance(exc, NoArgsIsHelpError):
                raise
            words = " ".join(exc.format_message().split())
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            typer.echo(f"error: {words} (see {where} --help)", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    name="supplier",
    cls=_OneLineUsageErrors,
    help="A supplier's work from the command line: apply, batches, trail events, recalls, "
    "claims. Results go to stdout as JSON (keystore-new: the new address; claims: with --json), "
    "progress to stderr; a run again skips what was done and says so (exit code 0); "
    "any failure is one line on stderr starting with 'error: ' and exit code 1.",
    no_args_is_help=True,
)
# soft_wrap: a progress line stays one line in a log (a pipe is 80 columns to rich: "(tx\n0x…").
console = Console(stderr=True, soft_wrap=True)

# Tests hand the CLI the app's own client; a run builds one for --api.
_http_factory: Any = None

KeystoreOpt = Annotated[
    Path,
    typer.Option(
        "--keystore",
        envvar="TUANCHAIN_KEYSTORE",
        help="encrypted JSON keystore of the signer (its password: TUANCHAIN_KEYSTORE_PASSWORD, "
        "else asked)",
    ),
]
ApiOpt = Annotated[
    str | None,
    typer.Option(
        "--api",
        envvar="TUANCHAIN_API_URL",
        help="the tuanchain service's URL (default: TUANCHAIN_PUBLIC_URL)",
    ),
]
DirectOpt = Annotated[
    bool,
    typer.Option("--direct", help="send from the signer's own account (it pays gas), no relay"),
]
WaitOpt = Annotated[
    float,
    typer.Option(
        "--timeout",
        help="seconds to wait for a relayed call to be mined (past it the call stays queued: "
        "run the same command again, what was done is skipped)",
    ),
]
MerkleOpt = Annotated[
    bool,
    typer.Option(
        "--merkle",
        help=f"anchor all events under one Merkle root, one transaction (at most {MAX_ROOT_EVENTS})",
    ),
]


@contextmanager
def _one_line_errors() -> Iterator[None]:
    try:
        yield
    except (SupplierCliError, ChainError, TraceabilityError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        typer.echo(f"error: {_in_words(exc) or first}", err=True)
        raise typer.Exit(1) from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: invalid settings: {problems}", err=True)
        raise typer.Exit(1) from None


def _in_words(exc: Exception) -> str | None:
    """A contract's refusal as the pages say it (their English words for the error), the error
    itself after them: ``UnexpectedPartyStatus(kind=0, …, status=2)`` alone tells an ERP's
    operator little."""
    revert = exc.revert if isinstance(exc, ServiceRefused) else None
    words = messages().get(f"js_err_{revert[0]}", {}).get("en") if revert else None
    if not isinstance(exc, ServiceRefused) or not isinstance(words, str):
        return None
    return f"{exc.code}: {words} ({exc.message})"


def _password(prompt: str, *, confirm: bool = False) -> str:
    """The keystore's password: ``TUANCHAIN_KEYSTORE_PASSWORD``, else asked on the terminal. With
    no terminal (a cron job, an ERP's script) asking would print the prompt on stdout, warn that
    the input may be echoed and stop with "Aborted.": one line saying what to set instead."""
    password = os.environ.get(keystore.PASSWORD_ENV)
    if password is not None:
        return password
    if not sys.stdin.isatty():
        raise KeystoreError(
            f"no password: set {keystore.PASSWORD_ENV} (there is no terminal to ask on)"
        )
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


class Session:
    """Settings, the signer and the service for one command."""

    def __init__(self, keystore_path: Path, api: str | None, *, direct: bool, timeout: float):
        self.settings = keystore.ClientSettings()
        password = _password(f"password of {keystore_path}")
        self.account: LocalAccount = keystore.load(keystore_path, password, self.settings)
        base = api or self.settings.public_url
        http = _http_factory(base) if _http_factory is not None else None
        self.service = Service(base, http=http)
        self.direct, self.timeout = direct, timeout

    def act(self, action: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        """Prepare, sign, relay (or send) one action; returns the mined result."""
        prepared = self.service.prepare(action, self.account, body)
        if self.direct:
            with console.status(f"{what}: sending from {self.account.address}"):
                result = send_directly(prepared, self.account, self.settings)
        else:
            accepted = self.service.relay(prepared, self.account)
            with console.status(f"{what}: relayed as {accepted['id']}") as status:
                result = self.service.wait(
                    accepted["id"],
                    timeout=self.timeout,
                    on_status=lambda s: status.update(f"{what}: {s} ({accepted['id']})"),
                )
            result = {
                **result,
                "details": {**prepared.get("details", {}), **(result.get("details") or {})},
            }
        console.print(
            f"[green]✓[/green] {what} (tx {result['tx_hash']}, block {result['block_number']})"
        )
        return result

    def anchor(self, target: inputs.Batch, events: list[dict[str, Any]], *, merkle: bool) -> None:
        """Anchor ``events``, one by one or under one root, and print the details of each as
        JSON. Anchoring is idempotent: what was anchored before (a run again, after one that
        stopped midway or timed out) is skipped and said so, with the same details plus
        ``"skipped"`` (its document's or manifest's CID null: a document names the time it was
        stored, ``creationDate``; the hashes and the root cover the events alone), and the run goes on (exit code 0)."""
        results = []
        if merkle:
            _fits_one_root(events)
            body = {
                "events": [{"gtin14": target.gtin14, "lot": target.lot, "event": e} for e in events]
            }
            what = f"{len(events)} events under one Merkle root"
            try:
                results.append(self.act("anchor_root", body, what)["details"])
            except ServiceRefused as exc:
                if exc.code != "root_already_anchored":
                    raise
                console.print(f"[yellow]=[/yellow] {what}: already anchored, skipped")
                _, _, details = root_anchor([(target.gtin14, target.lot, e) for e in events])
                results.append({**details, "manifest_cid": None, "skipped": "already anchored"})
        else:
            for number, event in enumerate(events, start=1):
                body = {"gtin14": target.gtin14, "lot": target.lot, "event": event}
                what = f"event {number}/{len(events)} ({event.get('bizStep', event.get('type'))})"
                try:
                    results.append(self.act("anchor_event", body, what)["details"])
                except ServiceRefused as exc:
                    if exc.code != "event_already_anchored":
                        _stopped_at(results, number, len(events), exc)
                    # A run again after one that stopped midway: what it anchored is skipped.
                    console.print(f"[yellow]=[/yellow] {what}: already anchored, skipped")
                    _, details = event_anchor(target.gtin14, target.lot, event)
                    results.append({**details, "document_cid": None, "skipped": "already anchored"})
        typer.echo(json.dumps(results, ensure_ascii=False, indent=2))


def _fits_one_root(events: list[dict[str, Any]]) -> None:
    """``--merkle``: as many events as the service takes under one root (checked before the
    keystore is opened, and again before anchoring)."""
    if len(events) > MAX_ROOT_EVENTS:
        raise InputError(
            f"{len(events)} events: at most {MAX_ROOT_EVENTS} go under one Merkle root; "
            "split them, or anchor them one by one (without --merkle)"
        )


def _stopped_at(
    results: list[dict[str, Any]], number: int, total: int, exc: ServiceRefused
) -> NoReturn:
    """Event ``number`` failed: print what the run anchored before it, and say how to go on."""
    if number > 1:
        typer.echo(json.dumps(results, ensure_ascii=False, indent=2))
        raise ServiceRefused(
            exc.code,
            f"{str(exc).split(': ', 1)[-1]} (event {number}/{total}; events 1-{number - 1} are "
            "anchored: run the same command again, anchored events are skipped)",
        ) from None
    raise exc


@app.command("keystore-new")
def keystore_new(
    path: Annotated[Path, typer.Argument(help="where to write the new keystore")],
) -> None:
    """Create a new account in an encrypted JSON keystore (the password is asked twice)."""
    with _one_line_errors():
        password = _password("new keystore password", confirm=True)
        typer.echo(keystore.create(path, password))


@app.command()
def apply(
    profile: Annotated[Path, typer.Option(help="public profile JSON (name, place, products)")],
    credentials: Annotated[Path, typer.Option(help="private credentials (PDF, image, JSON)")],
    key: KeystoreOpt,
    leader: Annotated[bool, typer.Option("--leader", help="apply as a group leader")] = False,
    api: ApiOpt = None,
    direct: DirectOpt = False,
    timeout: WaitOpt = 120.0,
) -> None:
    """Apply to the platform: public profile in IPFS, credentials sealed in the private store."""
    with _one_line_errors():
        profile_doc = inputs.json_object_file(profile, "the profile")
        if CONTENT_TYPES.get(credentials.suffix.lower()) is None:
            raise InputError(
                f"{credentials}: unknown file type {credentials.suffix!r}; "
                f"use one of {', '.join(CONTENT_TYPES)}"
            )
        evidence = inputs.file_bytes(credentials)  # readable and not too big, before signing in
        session = Session(key, api, direct=direct, timeout=timeout)
        token = session.service.sign_in(session.account)
        stored = session.service.upload_private(token, credentials, purpose="credential")
        if stored["sha256"] != hashlib.sha256(evidence).hexdigest():
            raise InputError(f"the service stored other bytes than {credentials}")
        kind = "leader" if leader else "supplier"
        body = {"kind": kind, "profile": profile_doc, "credentials_digest": stored["digest"]}
        what = f"application as {kind}"
        try:
            details = session.act("apply", body, what)["details"]
        except ServiceRefused as exc:
            # A run again (after a timeout, by a script): pending or approved, nothing to do.
            status = (exc.revert or ("", {}))[1].get("status")
            if exc.code != "unexpected_party_status" or status not in APPLIED:
                raise
            console.print(
                f"[yellow]=[/yellow] {what}: already applied ({APPLIED[status]}), skipped"
            )
            details = {"kind": kind, "profile_cid": None, "credentials_digest": None,
                       "status": APPLIED[status], "skipped": "already applied"}  # fmt: skip
        typer.echo(json.dumps(details, ensure_ascii=False, indent=2))


@app.command("register-batch")
def register_batch(
    gtin: Annotated[str, typer.Argument(help="GTIN-14 (with its check digit)")],
    lot: Annotated[str, typer.Argument(help="GS1 lot (1-20 characters)")],
    key: KeystoreOpt,
    metadata: Annotated[Path | None, typer.Option(help="lot master data JSON (as is)")] = None,
    product: Annotated[
        Path | None,
        typer.Option(
            help="product master data JSON (name_zh, name_en, image, specification, unit, "
            "origin_country, origin_zh, origin_en): published, and named by the lot's data"
        ),
    ] = None,
    api: ApiOpt = None,
    direct: DirectOpt = False,
    timeout: WaitOpt = 120.0,
) -> None:
    """Register a batch (GTIN + lot) with its master data."""
    with _one_line_errors():
        target = inputs.batch(gtin, lot)
        if metadata is not None and product is not None:
            raise InputError("give --metadata or --product, not both")
        data: dict[str, Any] = {"gtin": target.gtin14, "lot": target.lot}
        if metadata is not None:
            data = inputs.json_object_file(metadata, "the master data")
        fields = inputs.json_object_file(product, "the product") if product is not None else None
        session = Session(key, api, direct=direct, timeout=timeout)
        if product is not None and fields is not None:
            data = _publish_product(session, product, fields, target)
        body = {"gtin14": target.gtin14, "lot": target.lot, "metadata": data}
        what = f"batch {target.gtin14}/{target.lot}"
        try:
            details = session.act("register_batch", body, what)["details"]
        except ServiceRefused as exc:
            if exc.code != "batch_already_registered":
                raise
            owner = session.service.batch_supplier(target.gtin14, target.lot)
            if owner is not None and owner.lower() != session.account.address.lower():
                raise ServiceRefused(exc.code, f"{what} is registered by {owner}") from None
            # A run again: the batch stays as first registered (its master data too).
            console.print(f"[yellow]=[/yellow] {what}: already registered, skipped")
            details = {"batch_id": "0x" + batch_id_of(target.gtin14, target.lot).hex(),
                       "gtin14": target.gtin14, "lot": target.lot, "metadata_cid": None,
                       "skipped": "already registered"}  # fmt: skip
        typer.echo(json.dumps(details, ensure_ascii=False, indent=2))


def _publish_product(
    session: Session, path: Path, fields: dict[str, Any], target: inputs.Batch
) -> dict[str, Any]:
    """Publish the product's document (and its photo, a file next to it) as the page does; the
    lot master data naming it."""
    allowed = {
        "name_zh", "name_en", "image", "specification", "unit",
        "origin_country", "origin_zh", "origin_en",
    }  # fmt: skip
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise InputError(f"{path}: unknown fields {', '.join(unknown)}; known: {sorted(allowed)}")
    image = fields.get("image")
    if isinstance(image, str) and image and not image.startswith("ipfs://"):
        photo = (path.parent / image).resolve()
        content_type = CONTENT_TYPES.get(photo.suffix.lower())
        if content_type is None or not content_type.startswith("image/"):
            raise InputError(f"{path}: image {image!r} is not a .jpg, .png or .webp file")
        photo_bytes = inputs.file_bytes(photo)
        stored = session.service.upload_public(
            session.account, photo_bytes, name=photo.name, content_type=content_type
        )
        image = f"ipfs://{stored['cid']}"
    document = masterdata.product_document(
        gtin=target.gtin14,
        name_zh=str(fields.get("name_zh") or ""),
        name_en=str(fields.get("name_en") or ""),
        image=image or None,
        specification=str(fields.get("specification") or ""),
        unit=str(fields.get("unit") or ""),
        origin_country=str(fields.get("origin_country") or ""),
        origin_zh=str(fields.get("origin_zh") or ""),
        origin_en=str(fields.get("origin_en") or ""),
    )
    stored = session.service.upload_public(
        session.account,
        json_bytes(document),
        name=f"product-{target.gtin14}.json",
        content_type="application/json",
    )
    console.print(f"[green]✓[/green] product master data ipfs://{stored['cid']}")
    return masterdata.lot_master_data(product=document, product_cid=stored["cid"], lot=target.lot)


@app.command("add-event")
def add_event(
    gtin: Annotated[str, typer.Argument(help="GTIN-14 of the batch")],
    lot: Annotated[str, typer.Argument(help="lot of the batch")],
    key: KeystoreOpt,
    file: Annotated[Path | None, typer.Option(help="EPCIS 2.0 JSON(-LD) document or event")] = None,
    kind: Annotated[
        str | None, typer.Option(help="build one: " + ", ".join(inputs.EVENT_KINDS))
    ] = None,
    location: Annotated[str | None, typer.Option(help="GLN or URI where it happened")] = None,
    when: Annotated[
        str | None, typer.Option("--time", help="ISO 8601 with offset (default: now)")
    ] = None,
    quantity: Annotated[
        float | None, typer.Option(help="quantity of the lot (every kind but inspecting)")
    ] = None,
    uom: Annotated[str, typer.Option(help="UN/CEFACT unit (KGM, LTR, H87 ...)")] = "KGM",
    origin: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2 country")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="inspection: non-conformant")] = False,
    certificate: Annotated[
        list[str] | None,
        typer.Option(
            help="certificate: a URI, or a file (.pdf, .png, .jpg, .webp) to publish as the "
            "page does and name by its ipfs:// CID (repeatable)"
        ),
    ] = None,
    merkle: MerkleOpt = False,
    api: ApiOpt = None,
    direct: DirectOpt = False,
    timeout: WaitOpt = 120.0,
) -> None:
    """Anchor EPCIS events of a batch: from a file, or built from options."""
    with _one_line_errors():
        target = inputs.batch(gtin, lot)
        if (file is None) == (kind is None):
            raise InputError("give exactly one of --file or --kind")
        if file is not None:
            events = inputs.events_from_file(file)
            if merkle:
                _fits_one_root(events)
        else:
            if not location:
                raise InputError("--kind needs --location")
            inputs.check_kind(str(kind), quantity)
            moment = inputs.parse_time(when, "--time") if when else datetime.now(UTC)
            files = [_certificate_file(c) for c in certificate or []]
            session = Session(key, api, direct=direct, timeout=timeout)
            events = [
                inputs.built_event(
                    str(kind),
                    target,
                    event_time=moment,
                    location=location,
                    quantity=quantity,
                    uom=uom,
                    origin_country=origin,
                    passed=not failed,
                    certificates=[
                        _publish_certificate(session, f) if f else c
                        for c, f in zip(certificate or [], files, strict=True)
                    ],
                )
            ]
            session.anchor(target, events, merkle=merkle)
            return
        session = Session(key, api, direct=direct, timeout=timeout)
        session.anchor(target, events, merkle=merkle)


def _certificate_file(value: str) -> Path | None:
    """``--certificate``: None for a URI (kept as given), else the local file to publish; a value
    that is neither is refused before anything is signed."""
    if "://" in value or value.startswith("urn:"):
        return None
    path = Path(value)
    if not path.is_file():
        raise InputError(f"--certificate {value}: neither a URI nor a file")
    content_type = CONTENT_TYPES.get(path.suffix.lower())
    if content_type not in ("application/pdf", "image/png", "image/jpeg", "image/webp"):
        raise InputError(f"--certificate {value}: not a .pdf, .png, .jpg or .webp file")
    inputs.file_bytes(path)  # readable and not too big, before the keystore is opened
    return path


def _publish_certificate(session: Session, path: Path) -> str:
    """A certificate is public (the trail shows it): published through ``POST /v1/documents``
    as the page publishes one, then named by its CID."""
    data = inputs.file_bytes(path)
    stored = session.service.upload_public(
        session.account, data, name=path.name, content_type=CONTENT_TYPES[path.suffix.lower()]
    )
    console.print(f"[green]✓[/green] certificate {path.name} ipfs://{stored['cid']}")
    return f"ipfs://{stored['cid']}"


@app.command()
def sensors(
    gtin: Annotated[str, typer.Argument(help="GTIN-14 of the batch")],
    lot: Annotated[str, typer.Argument(help="lot of the batch")],
    csv_file: Annotated[
        Path,
        typer.Argument(
            help="sensor readings: header time,device_id,type,value,unit (ISO 8601 with offset, "
            "Temperature, CEL or FAR); at most 2 MiB"
        ),
    ],
    key: KeystoreOpt,
    location: Annotated[str, typer.Option(help="GLN or URI of the sensors")],
    min_c: Annotated[float, typer.Option("--min", help="lowest allowed °C")],
    max_c: Annotated[float, typer.Option("--max", help="highest allowed °C")],
    merkle: MerkleOpt = False,
    api: ApiOpt = None,
    direct: DirectOpt = False,
    timeout: WaitOpt = 120.0,
) -> None:
    """Turn a sensor CSV into cold-chain events (one per device) and anchor them."""
    with _one_line_errors():
        target = inputs.batch(gtin, lot)
        events = inputs.sensor_events(csv_file, target, location=location, min_c=min_c, max_c=max_c)
        if merkle:
            _fits_one_root(events)
        alarms = sum(inputs.breaches(e) for e in events)
        if alarms:
            noun = "reading" if alarms == 1 else "readings"
            console.print(f"[yellow]![/yellow] {alarms} {noun} outside {min_c}–{max_c} °C")
        session = Session(key, api, direct=direct, timeout=timeout)
        session.anchor(target, events, merkle=merkle)


@app.command()
def writer(
    gtin: Annotated[str, typer.Argument(help="GTIN-14 of the batch")],
    lot: Annotated[str, typer.Argument(help="lot of the batch")],
    address: Annotated[str, typer.Argument(help="the carrier's or inspector's account")],
    key: KeystoreOpt,
    remove: Annotated[bool, typer.Option("--remove", help="withdraw the authorization")] = False,
    api: ApiOpt = None,
    direct: DirectOpt = False,
    timeout: WaitOpt = 120.0,
) -> None:
    """Authorize a carrier or inspector to anchor the batch's events (or --remove them)."""
    with _one_line_errors():
        target = inputs.batch(gtin, lot)
        account = inputs.address(address)
        session = Session(key, api, direct=direct, timeout=timeout)
        body = {
            "gtin14": target.gtin14,
            "lot": target.lot,
            "writer": account,
            "allowed": not remove,
        }
        what = f"{'removing' if remove else 'authorizing'} writer {account}"
        result = session.act("set_batch_writer", body, what)
        typer.echo(json.dumps(result["details"], ensure_ascii=False, indent=2))


# The party statuses under which an application is a run again (nothing to do), in words.
APPLIED = {int(PartyStatus.PENDING): "pending review", int(PartyStatus.APPROVED): "approved"}

REJECTED = int(ClaimStatus.REJECTED)

# The most pages of claims ``claims`` reads looking for the waiting ones (50 filings a page).
CLAIM_PAGES = 20


@app.command()
def claims(
    supplier: Annotated[
        str | None, typer.Option(help="the supplier's account (default: the keystore's)")
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--keystore",
            envvar="TUANCHAIN_KEYSTORE",
            help="keystore naming the supplier's account (not decrypted)",
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="every claim, answered and closed too (50 a page)")
    ] = False,
    before: Annotated[
        int | None, typer.Option(help="with --all: the page before this cursor (next_before)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print JSON: supplier, waiting, claims, next_before")
    ] = False,
    api: ApiOpt = None,
) -> None:
    """List the buyers' claims waiting for your answer (answer-claim), or --all of them."""
    with _one_line_errors():
        if before is not None and (not every or before < 1):
            raise InputError("--before needs --all and a cursor of 1 or more (next_before)")
        if supplier is not None:
            account = inputs.address(supplier)
        elif key is not None:
            account = keystore.address_of(key)
        else:
            raise InputError("give --supplier ADDRESS or --keystore FILE")
        settings = keystore.ClientSettings()
        base = api or settings.public_url
        service = Service(base, http=_http_factory(base) if _http_factory is not None else None)
        page = service.claims(account, before=before)
        found = page["claims"]
        if not every:
            found = [c for c in found if c.get("waiting")]
            for _ in range(CLAIM_PAGES - 1):
                if len(found) >= page["waiting"] or page["next_before"] is None:
                    break
                page = service.claims(account, before=page["next_before"])
                found += [c for c in page["claims"] if c.get("waiting")]
            if len(found) < page["waiting"]:
                console.print(
                    f"[yellow]![/yellow] {page['waiting'] - len(found)} more waiting claim(s) "
                    f"are older than the newest {CLAIM_PAGES} pages: see --all --before"
                )
        if as_json:
            # The same members every time (a script reads them): next_before is where --all
            # --before goes on, null when nothing is left unlisted.
            more = every or len(found) < page["waiting"]
            out = {
                "supplier": account,
                "waiting": page["waiting"],
                "claims": found,
                "next_before": page["next_before"] if more else None,
            }
            typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
            return
        typer.echo(
            f"{page['waiting']} claim(s) of {account} waiting for an answer"
            + (
                ""
                if every
                else " (tuanchain supplier answer-claim DEAL_ID BUYER --accept|--reject)"
            )
        )
        for c in found:
            name = (c.get("product") or {}).get("name") or {}
            product = name.get("en") or name.get("zh") if isinstance(name, dict) else str(name)
            state = f"answer by {c['answer_deadline']}" if c.get("waiting") else c["status"]
            typer.echo(
                f"deal {c['deal_id']}  buyer {c['buyer']}  {c['quantity']} unit(s)  {state}"
                + (f"  {product}" if product else "")
            )
        if every and page["next_before"] is not None:
            typer.echo(f"more: --all --before {page['next_before']}")


@app.command("answer-claim")
def answer_claim(
    deal_id: Annotated[int, typer.Argument(min=1, help="the deal")],
    buyer: Annotated[str, typer.Argument(help="the buyer who filed the claim")],
    key: KeystoreOpt,
    accept: Annotated[
        bool,
        typer.Option("--accept/--reject", help="refund the claim, or leave it to the platform"),
    ],
    api: ApiOpt = None,
    direct: DirectOpt = False,
    timeout: WaitOpt = 120.0,
) -> None:
    """Answer a buyer's quality claim: accept (refund) or reject (the platform arbitrates)."""
    with _one_line_errors():
        account = inputs.address(buyer)
        session = Session(key, api, direct=direct, timeout=timeout)
        action = "accept_claim" if accept else "reject_claim"
        body = {"deal_id": deal_id, "buyer": account}
        what = f"{action.replace('_', ' ')} of {account} in deal {deal_id}"
        try:
            details = session.act(action, body, what)["details"]
        except ServiceRefused as exc:
            # A rejection sent again finds the claim rejected: skipped. (An accepted claim is
            # refunded and gone, which the chain cannot tell from none: that stays a refusal.)
            status = (exc.revert or ("", {}))[1].get("status")
            if accept or exc.code != "claim_not_awaiting_answer" or status != REJECTED:
                raise
            console.print(f"[yellow]=[/yellow] {what}: already rejected, skipped")
            details = {**body, "skipped": "already rejected"}
        typer.echo(json.dumps(details, ensure_ascii=False, indent=2))


@app.command()
def recall(
    gtin: Annotated[str, typer.Argument(help="GTIN-14 of the batch")],
    lot: Annotated[str, typer.Argument(help="lot of the batch")],
    key: KeystoreOpt,
    reason: Annotated[str, typer.Option(help="why, in words (published as the recall notice)")],
    api: ApiOpt = None,
    direct: DirectOpt = False,
    timeout: WaitOpt = 120.0,
) -> None:
    """Recall a batch: every deal selling it freezes and refunds its buyers."""
    with _one_line_errors():
        target = inputs.batch(gtin, lot)
        if not reason.strip():
            raise InputError("--reason must say why")
        session = Session(key, api, direct=direct, timeout=timeout)
        # The notice document around the reason is built by the service (as for the pages).
        body = {"gtin14": target.gtin14, "lot": target.lot, "reason": reason.strip()}
        what = f"recall of {target.gtin14}/{target.lot}"
        try:
            details = session.act("recall_batch", body, what)["details"]
        except ServiceRefused as exc:
            # A run again: recalled already (its deals frozen then). Non-compliant is another
            # state, and stays a refusal.
            status = (exc.revert or ("", {}))[1].get("status")
            if exc.code != "batch_not_active" or status != int(BatchStatus.RECALLED):
                raise
            console.print(f"[yellow]=[/yellow] {what}: already recalled, skipped")
            details = {"batch_id": "0x" + batch_id_of(target.gtin14, target.lot).hex(),
                       "gtin14": target.gtin14, "lot": target.lot, "reason_cid": None,
                       "frozen_deals": None, "skipped": "already recalled"}  # fmt: skip
        typer.echo(json.dumps(details, ensure_ascii=False, indent=2))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="supplier")
