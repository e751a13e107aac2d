"""Verify the AI-disclosure labels of an exported bundle (ZIP) or of a single image.

Per image: the C2PA manifest is present, its signature and hashes are valid and it declares AI generation;
the XMP (parsed, provenance.marks.xmp) carries the IPTC digital source type and, where manifest.json records the
image's ProduceID, a well-formed TC260:AIGC label naming it; both invisible watermarks (dwtDctSvd, and RivaGAN
where one was embedded) decode to the payloads recorded in manifest.json; the file's sha256 matches.

Ingredients: every ingredient of the active manifest must validate too. A failure the claim generator
recorded when it took the ingredient in (its validation results, e.g. claimSignature.mismatch or
assertion.dataHash.mismatch), one found re-validating the ingredient's manifest in this file's store
(ingredientDeltas), or a manifest the ingredient points at that is not in the store (a missing claim) makes
the image invalid, and the report names the ingredient, as the reference C2PA tools do.

Trust: a signature can be valid while its signer is not on a trust list (the development CA, or a
production CA this verifier was not told about). That is reported as a warning, not a failure, unless
`strict_trust` is set; an invalid signature or hash is always a failure. Verification trusts the roots in
C2PA_TRUST_ANCHORS_PATH plus the local development root when one exists (provenance.signing).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import c2pa
from PIL import Image, UnidentifiedImageError

from provenance.labeling import IPTC_TRAINED_ALGORITHMIC_MEDIA
from provenance.marks.rivagan import MIN_SIDE as RIVAGAN_MIN_SIDE
from provenance.marks.rivagan import rivagan_readings
from provenance.marks.watermark import watermark_decode, watermark_fits
from provenance.marks.xmp import TC260_AI_GENERATED, XmpError, xmp_labels, xmp_packet_from_image
from provenance.signing import DEV_ORGANIZATION, verification_trust_anchors_pem

MANIFEST_NAME = "manifest.json"
MAX_IMAGE_BYTES = 100 * 1024 * 1024  # a bundle entry larger than this is refused, not decompressed
AI_SOURCE_TYPES = {
    IPTC_TRAINED_ALGORITHMIC_MEDIA,
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
}

C2PA_TRUSTED = "trusted"
C2PA_UNTRUSTED_SIGNER = "untrusted_signer"  # signature and hashes valid, signer not on the trust list
C2PA_INVALID = "invalid"
C2PA_MISSING = "missing"

_UNTRUSTED_CODES = {"signingCredential.untrusted"}
# Status codes that report success or mere information; older (v1/v2) ingredient assertions keep a flat
# validation_status list that may mix them with failures.
_NON_FAILURE_SUFFIXES = (".validated", ".match", ".insideValidity", ".trusted", ".skipped", ".notRevoked")


@dataclass
class ImageReport:
    path: str
    size_bytes: int = 0
    sha256: str = ""
    sha256_ok: bool | None = None  # None: no expected value to compare with
    c2pa: str = C2PA_MISSING
    c2pa_ai_declared: bool = False
    c2pa_signer: str | None = None  # the signing certificate's issuer organisation
    c2pa_claim_generator: str | None = None
    c2pa_ingredients: list[dict[str, Any]] = field(default_factory=list)  # title, relationship, ok, failures
    iptc_digital_source_type: str | None = None
    watermark: str | None = None  # decoded payload, hex
    watermark_ok: bool | None = None
    tc260: dict[str, str] | None = None  # China's implicit label (TC260:AIGC), as read from the XMP
    rivagan: str | None = None  # RivaGAN payload read, hex (only where manifest.json records one)
    rivagan_ok: bool | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, message: str) -> None:
        self.problems.append(f"{self.path}: {message}")

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.path}: {message}")


@dataclass
class VerificationReport:
    images: list[ImageReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # bundle-level (unreadable ZIP, no manifest, ...)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(image.ok for image in self.images)

    @property
    def all_problems(self) -> list[str]:
        return self.problems + [p for image in self.images for p in image.problems]

    @property
    def all_warnings(self) -> list[str]:
        return self.warnings + [w for image in self.images for w in image.warnings]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": self.all_problems,
            "warnings": self.all_warnings,
            "images": [{**asdict(image), "ok": image.ok} for image in self.images],
        }

    def as_text(self) -> str:
        lines = []
        for image in self.images:
            wm = image.watermark or "-"
            if image.watermark_ok is not None:
                wm += " (matches)" if image.watermark_ok else " (MISMATCH)"
            sha = {True: "ok", False: "MODIFIED", None: "not checked"}[image.sha256_ok]
            riva = "" if image.rivagan_ok is None else f" rivagan={'matches' if image.rivagan_ok else 'MISMATCH'}"
            lines.append(
                f"{'OK  ' if image.ok else 'FAIL'} {image.path}: c2pa={image.c2pa} "
                f"iptc={'yes' if image.iptc_digital_source_type else 'no'} watermark={wm} sha256={sha} "
                f"tc260={'yes' if image.tc260 else 'no'}{riva}"
            )
        problems, warnings = self.all_problems, self.all_warnings
        if problems:
            lines += ["", "Problems:"] + [f"  - {p}" for p in problems]
        if warnings:
            lines += ["", "Warnings:"] + [f"  - {w}" for w in warnings]
        count = len(self.images)
        verdict = "PASSED" if self.ok else "FAILED"
        lines += ["", f"Verification {verdict}: {count} image{'s' if count != 1 else ''}, {len(problems)} problem(s)."]
        return "\n".join(lines)


def c2pa_read_context(trust_anchors_pem: bytes | None = None) -> c2pa.Context:
    """Reader settings: trust the given roots, never fetch anything over the network."""
    anchors = verification_trust_anchors_pem() if trust_anchors_pem is None else trust_anchors_pem
    config: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if anchors.strip():
        config["trust"] = {"trust_anchors": anchors.decode("ascii")}
    return c2pa.Context.from_dict(config)


def _failure_codes(entries: Any) -> list[dict[str, Any]]:
    return [entry for entry in entries or [] if isinstance(entry, dict) and entry.get("code")]


def _ingredient_reports(store: dict[str, Any], active: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per ingredient of the active manifest, with every failure found for it."""
    results = store.get("validation_results") or {}
    deltas: dict[str, list[dict[str, Any]]] = {}
    for delta in results.get("ingredientDeltas") or []:
        assertion = str(delta.get("ingredientAssertionURI") or "").rsplit("/", 1)[-1]
        deltas.setdefault(assertion, []).extend(_failure_codes((delta.get("validationDeltas") or {}).get("failure")))
    active_failures = _failure_codes((results.get("activeManifest") or {}).get("failure"))
    known = set((store.get("manifests") or {}).keys())

    reports = []
    for index, ingredient in enumerate(active.get("ingredients") or []):
        recorded = (ingredient.get("validation_results") or {}).get("activeManifest") or {}
        failures = _failure_codes(recorded.get("failure"))
        failures += [
            status
            for status in _failure_codes(ingredient.get("validation_status"))
            if not str(status["code"]).endswith(_NON_FAILURE_SUFFIXES)
        ]
        failures += deltas.get(str(ingredient.get("label") or ""), [])
        manifest = ingredient.get("active_manifest")
        if manifest:
            failures += [f for f in active_failures if str(f.get("url") or "").endswith(str(manifest))]
            if manifest not in known and not failures:
                failures.append({"code": "claim.missing", "explanation": f"manifest {manifest} is not in the store"})
        codes: dict[str, str] = {}
        for failure in failures:
            codes.setdefault(str(failure["code"]), str(failure.get("explanation") or ""))
        reports.append(
            {
                "title": ingredient.get("title") or ingredient.get("label") or f"ingredient {index + 1}",
                "relationship": ingredient.get("relationship") or "",
                "ok": not (set(codes) - _UNTRUSTED_CODES),
                "failures": [{"code": code, "explanation": text} for code, text in codes.items()],
            }
        )
    return reports


def _check_c2pa(report: ImageReport, data: bytes, context: c2pa.Context, *, strict_trust: bool) -> None:
    try:
        reader = c2pa.Reader(None, io.BytesIO(data), context=context)
    except c2pa.C2paError.ManifestNotFound:
        report.problem("has no C2PA manifest (unlabeled)")
        return
    except c2pa.C2paError as exc:
        report.c2pa = C2PA_INVALID
        report.problem(f"C2PA manifest cannot be read ({exc})")
        return
    with reader:
        store = json.loads(reader.json())
        state = store.get("validation_state") or ""
        results = store.get("validation_results") or {}
        failures = (results.get("activeManifest") or {}).get("failure") or []
        active = (store.get("manifests") or {}).get(store.get("active_manifest") or "", {})

    report.c2pa_ingredients = _ingredient_reports(store, active)
    failing = [ingredient for ingredient in report.c2pa_ingredients if not ingredient["ok"]]
    ingredient_manifests = {str(i.get("active_manifest")) for i in active.get("ingredients") or []} - {"None"}
    # An active-manifest failure about an ingredient is reported once, under that ingredient's name.
    own_failures = [f for f in failures if not any(str(f.get("url") or "").endswith(m) for m in ingredient_manifests)]
    failure_codes = {f.get("code", "") for f in own_failures}

    issuer = (active.get("signature_info") or {}).get("issuer", "unknown issuer")
    report.c2pa_signer = issuer
    generator = (active.get("claim_generator_info") or [{}])[0]
    parts = [str(generator[k]) for k in ("name", "version") if generator.get(k)]
    report.c2pa_claim_generator = " ".join(parts) or None
    broken = [f for f in own_failures if f.get("code") not in _UNTRUSTED_CODES]
    for ingredient in failing:
        details = "; ".join(
            f"{f['code']}: {f['explanation']}" if f["explanation"] else f["code"]
            for f in ingredient["failures"]
            if f["code"] not in _UNTRUSTED_CODES
        )
        relationship = f" ({ingredient['relationship']})" if ingredient["relationship"] else ""
        report.problem(f"C2PA ingredient '{ingredient['title']}'{relationship} fails validation: {details}")

    if broken or (state not in ("Trusted", "Valid") and not failing):
        report.c2pa = C2PA_INVALID
        details = "; ".join(f"{f.get('code')}: {f.get('explanation')}" for f in broken)
        report.problem(f"C2PA manifest is invalid (file was modified after signing?): {details or state}")
    elif state == "Trusted" or (failing and not failure_codes):
        report.c2pa = C2PA_INVALID if failing else C2PA_TRUSTED
        if issuer == DEV_ORGANIZATION and not failing:
            report.warn(
                "signed with the development CA, trusted only where its root is installed; platforms will call "
                "the signer untrusted (set C2PA_CERT_CHAIN_PATH / C2PA_PRIVATE_KEY_PATH for production)"
            )
    else:  # signature and hashes valid, signer not on the trust list
        report.c2pa = C2PA_INVALID if failing else C2PA_UNTRUSTED_SIGNER
        message = (
            f"C2PA signature is valid but the signer ({issuer}) is not on the trust list; add its root CA to "
            "C2PA_TRUST_ANCHORS_PATH if it is yours (the development CA is never trusted by platforms)"
        )
        report.problem(message) if strict_trust else report.warn(message)

    report.c2pa_ai_declared = any(
        action.get("action") == "c2pa.created" and action.get("digitalSourceType") in AI_SOURCE_TYPES
        for assertion in active.get("assertions") or []
        if assertion.get("label", "").startswith("c2pa.actions")
        for action in (assertion.get("data") or {}).get("actions") or []
    )
    if not report.c2pa_ai_declared:
        report.problem(
            "C2PA manifest does not declare the image AI-generated (no c2pa.created action with "
            "digitalSourceType trainedAlgorithmicMedia)"
        )


def _check_xmp(report: ImageReport, packet: bytes | None, *, expected_produce_id: str | None) -> None:
    try:
        labels = xmp_labels(packet) if packet else None
    except XmpError as exc:
        report.problem(f"XMP cannot be parsed ({exc})")
        return
    report.iptc_digital_source_type = labels.digital_source_type if labels else None
    if not report.iptc_digital_source_type:
        report.problem("has no IPTC digital source type (XMP Iptc4xmpExt:DigitalSourceType)")
    elif report.iptc_digital_source_type not in AI_SOURCE_TYPES:
        report.problem(f"IPTC digital source type is {report.iptc_digital_source_type}, not trainedAlgorithmicMedia")
    if labels and labels.tc260_error:
        report.problem(f"TC260:AIGC label is malformed: {labels.tc260_error}")
    report.tc260 = labels.tc260.as_dict() if labels and labels.tc260 else None
    if expected_produce_id is None or (labels and labels.tc260_error):
        return
    if report.tc260 is None:
        report.problem("has no TC260:AIGC implicit label (XMP), which China's labeling measures require")
    elif report.tc260["Label"] != TC260_AI_GENERATED or report.tc260["ProduceID"] != expected_produce_id:
        report.problem(
            f"TC260:AIGC says Label {report.tc260['Label']}, ProduceID {report.tc260['ProduceID']}; "
            f"manifest.json records ProduceID {expected_produce_id} of AI-generated content (Label 1)"
        )


def _check_pixels(
    report: ImageReport,
    data: bytes,
    *,
    expected_watermark: str | None,
    check_watermark: bool,
    expected_rivagan: str | None = None,
    expected_produce_id: str | None = None,
) -> None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            packet = xmp_packet_from_image(image)
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        report.problem(f"cannot be decoded as an image ({exc})")
        return

    _check_xmp(report, packet, expected_produce_id=expected_produce_id)
    if not check_watermark:
        return
    if expected_rivagan and min(rgb.size) >= RIVAGAN_MIN_SIDE:
        # At the exported scale: a file from a bundle was never resized or cropped.
        report.rivagan = next(rivagan_readings(rgb, scales=(1.0,))).hex
        report.rivagan_ok = report.rivagan == expected_rivagan.lower()
        if not report.rivagan_ok:
            report.problem(f"RivaGAN watermark reads {report.rivagan}, manifest records {expected_rivagan}")
    if not watermark_fits(rgb.width, rgb.height):
        report.problem("is too small to carry the invisible watermark")
        return
    report.watermark = watermark_decode(rgb).hex()
    if expected_watermark is None:
        return
    report.watermark_ok = report.watermark == expected_watermark.lower()
    if not report.watermark_ok:
        report.problem(
            f"invisible watermark reads {report.watermark}, manifest records {expected_watermark} "
            "(image re-encoded, resized or replaced)"
        )


def _verify_one(
    data: bytes,
    *,
    path: str,
    context: c2pa.Context,
    expected_sha256: str | None,
    expected_watermark: str | None,
    strict_trust: bool,
    check_watermark: bool,
    expected_rivagan: str | None = None,
    expected_produce_id: str | None = None,
) -> ImageReport:
    report = ImageReport(path=path, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    if expected_sha256:
        report.sha256_ok = report.sha256 == expected_sha256.lower()
        if not report.sha256_ok:
            report.problem("sha256 differs from manifest (file was modified)")
    _check_c2pa(report, data, context, strict_trust=strict_trust)
    _check_pixels(
        report,
        data,
        expected_watermark=expected_watermark,
        check_watermark=check_watermark,
        expected_rivagan=expected_rivagan,
        expected_produce_id=expected_produce_id,
    )
    return report


def image_verify(
    data: bytes,
    *,
    expected_sha256: str | None = None,
    expected_watermark: str | None = None,
    path: str = "image",
    strict_trust: bool = False,
    trust_anchors_pem: bytes | None = None,
    check_watermark: bool = True,
) -> VerificationReport:
    """Check one image's labels. `expected_watermark` is the hex payload recorded at export."""
    with c2pa_read_context(trust_anchors_pem) as context:
        image = _verify_one(
            data,
            path=path,
            context=context,
            expected_sha256=expected_sha256,
            expected_watermark=expected_watermark,
            strict_trust=strict_trust,
            check_watermark=check_watermark,
        )
    return VerificationReport(images=[image])


def _manifest_images(manifest: Any, report: VerificationReport) -> list[dict[str, Any]]:
    posts = manifest.get("posts") if isinstance(manifest, dict) else None
    if not isinstance(posts, list):
        report.problems.append(f"{MANIFEST_NAME} has no 'posts' list.")
        return []
    entries: list[dict[str, Any]] = []
    for index, post in enumerate(posts):
        images = post.get("images") if isinstance(post, dict) else None
        if not isinstance(images, list):
            report.problems.append(f"{MANIFEST_NAME}: post {index + 1} has no 'images' list.")
            continue
        for entry in images:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                report.problems.append(f"{MANIFEST_NAME}: post {index + 1} lists an image without a path.")
                continue
            entries.append(entry)
    return entries


def bundle_verify(
    *,
    zip_path_or_file: str | Path | IO[bytes],
    strict_trust: bool = False,
    trust_anchors_pem: bytes | None = None,
    check_watermark: bool = True,
) -> VerificationReport:
    """Verify every image an export bundle's manifest.json lists (and flag images it does not list)."""
    report = VerificationReport()
    try:
        archive = zipfile.ZipFile(zip_path_or_file)
    except (zipfile.BadZipFile, OSError) as exc:
        report.problems.append(f"Not a readable ZIP bundle: {exc}")
        return report

    with archive, c2pa_read_context(trust_anchors_pem) as context:
        names = set(archive.namelist())
        if MANIFEST_NAME not in names:
            report.problems.append(f"The bundle has no {MANIFEST_NAME}; it is not a Persona Studio export.")
            return report
        try:
            manifest = json.loads(archive.read(MANIFEST_NAME))
        except (ValueError, zipfile.BadZipFile) as exc:
            report.problems.append(f"{MANIFEST_NAME} is not valid JSON: {exc}")
            return report

        entries = _manifest_images(manifest, report)
        if not entries and not report.problems:
            report.warnings.append(f"{MANIFEST_NAME} lists no images.")
        listed: set[str] = set()
        for entry in entries:
            path = entry["path"]
            listed.add(path)
            if path not in names:
                report.problems.append(f"{path}: listed in {MANIFEST_NAME} but missing from the bundle")
                continue
            if archive.getinfo(path).file_size > MAX_IMAGE_BYTES:
                report.problems.append(f"{path}: larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB; not checked")
                continue
            try:
                data = archive.read(path)
            except (zipfile.BadZipFile, OSError) as exc:  # CRC error: the archive itself was damaged
                report.problems.append(f"{path}: cannot be read from the bundle ({exc})")
                continue
            watermark = entry.get("watermark")
            rivagan, produce_id = entry.get("rivagan"), entry.get("produce_id")
            image = _verify_one(
                data,
                path=path,
                context=context,
                expected_sha256=entry.get("sha256") or None,
                expected_watermark=watermark if isinstance(watermark, str) and watermark else None,
                strict_trust=strict_trust,
                check_watermark=check_watermark,
                expected_rivagan=rivagan if isinstance(rivagan, str) and rivagan else None,
                expected_produce_id=produce_id if isinstance(produce_id, str) and produce_id else None,
            )
            if not entry.get("sha256"):
                image.problem(f"{MANIFEST_NAME} records no sha256 for this image")
            if check_watermark and not watermark:
                image.warn(f"{MANIFEST_NAME} records no watermark payload; decoded value not compared")
            if check_watermark and "rivagan" in entry and not rivagan:
                image.warn("the RivaGAN watermark did not take in this picture; dwtDctSvd and the fingerprint do")
            report.images.append(image)

        for name in sorted(names - listed):
            if name.startswith("images/") and not name.endswith("/"):
                report.problems.append(f"{name}: in the bundle but not listed in {MANIFEST_NAME}")
    return report
