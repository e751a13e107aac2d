"""XMP reading, and China's implicit AI label (GB 45438-2025 / TC260) as an XMP property.

The implicit label is the property TC260:AIGC in the namespace http://www.tc260.org.cn/ns/AIGC/1.0/, whose
value is a JSON object with seven string fields: Label ("1": AI-generated content; "2" possibly, "3"
suspected, which a generator never writes about its own output), ContentProducer (the generating service's
name or code), ProduceID (the content's id at that service), ReservedCode1, ContentPropagator, PropagateID
(filled in by a platform that redistributes it) and ReservedCode2. It is written as a child element of the
packet's rdf:Description, the form other producers and readers use.

Packets are parsed with defusedxml (no entity expansion, no external entities): uploads to the public
detection check are untrusted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element  # noqa: S405 - only the type; parsing goes through defusedxml
from xml.sax.saxutils import escape

from defusedxml import ElementTree
from PIL import Image

TC260_NAMESPACE = "http://www.tc260.org.cn/ns/AIGC/1.0/"
TC260_PREFIX = "TC260"
TC260_PROPERTY = "AIGC"
TC260_FIELDS = (
    "Label",
    "ContentProducer",
    "ProduceID",
    "ReservedCode1",
    "ContentPropagator",
    "PropagateID",
    "ReservedCode2",
)
TC260_AI_GENERATED = "1"
TC260_LABEL_VALUES = ("1", "2", "3")

RDF_NAMESPACE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
IPTC_EXT_NAMESPACE = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
MAX_XMP_BYTES = 1024 * 1024  # a JPEG APP1 segment holds 64 KiB; more than this in a PNG chunk is abuse


class XmpError(ValueError):
    """The XMP packet or the TC260 value in it is malformed."""


@dataclass(frozen=True)
class Tc260Label:
    content_producer: str
    produce_id: str
    label: str = TC260_AI_GENERATED
    reserved_code1: str = ""
    content_propagator: str = ""
    propagate_id: str = ""
    reserved_code2: str = ""

    def as_dict(self) -> dict[str, str]:
        values = (
            self.label,
            self.content_producer,
            self.produce_id,
            self.reserved_code1,
            self.content_propagator,
            self.propagate_id,
            self.reserved_code2,
        )
        return dict(zip(TC260_FIELDS, values, strict=True))

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Tc260Label:
        """Parse a TC260:AIGC value; every field must be present and a string, Label one of 1/2/3."""
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise XmpError(f"TC260:AIGC is not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise XmpError("TC260:AIGC is not a JSON object.")
        missing = [name for name in TC260_FIELDS if name not in value]
        if missing:
            raise XmpError(f"TC260:AIGC lacks {', '.join(missing)}.")
        wrong = [name for name in TC260_FIELDS if not isinstance(value[name], str)]
        if wrong:
            raise XmpError(f"TC260:AIGC fields must be strings: {', '.join(wrong)}.")
        if value["Label"] not in TC260_LABEL_VALUES:
            raise XmpError(f"TC260:AIGC Label is {value['Label']!r}, not one of {', '.join(TC260_LABEL_VALUES)}.")
        fields = [value[name] for name in TC260_FIELDS]
        return cls(
            label=fields[0],
            content_producer=fields[1],
            produce_id=fields[2],
            reserved_code1=fields[3],
            content_propagator=fields[4],
            propagate_id=fields[5],
            reserved_code2=fields[6],
        )


def tc260_xmlns() -> str:
    """The namespace declaration to put on the rdf:Description that carries the label."""
    return f'xmlns:{TC260_PREFIX}="{TC260_NAMESPACE}"'


def tc260_element(label: Tc260Label) -> str:
    """<TC260:AIGC>{json}</TC260:AIGC>, escaped for XML text."""
    tag = f"{TC260_PREFIX}:{TC260_PROPERTY}"
    return f"<{tag}>{escape(label.as_json())}</{tag}>"


def _qualified(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def xmp_properties(packet: bytes | str) -> dict[str, str]:
    """Every simple property of the packet's rdf:Description nodes, keyed "{namespace}name".

    Both RDF spellings count: attributes (prop="value") and child elements with text content. Structured
    values (rdf:Alt, rdf:Seq, ...) give their first rdf:li's text.
    """
    if isinstance(packet, str):
        packet = packet.encode("utf-8")
    if len(packet) > MAX_XMP_BYTES:
        raise XmpError("XMP packet is larger than 1 MiB.")
    try:
        root = ElementTree.fromstring(packet.strip(b"\x00 \r\n\t"))
    except Exception as exc:  # defusedxml's own errors and ParseError share no useful base
        raise XmpError(f"XMP packet is not well-formed XML: {exc}") from exc

    properties: dict[str, str] = {}
    for description in root.iter(_qualified(RDF_NAMESPACE, "Description")):
        for name, value in description.attrib.items():
            if not name.startswith(f"{{{RDF_NAMESPACE}}}"):
                properties.setdefault(name, value)
        for child in description:
            text = _element_text(child)
            if text is not None:
                properties.setdefault(child.tag, text)
    return properties


def _element_text(element: Element) -> str | None:
    if len(element) == 0:
        return (element.text or "").strip()
    first_item = next(element.iter(_qualified(RDF_NAMESPACE, "li")), None)
    return (first_item.text or "").strip() if first_item is not None else None


def xmp_packet_from_image(image: Image.Image) -> bytes | None:
    """The raw XMP packet Pillow found (JPEG APP1, PNG iTXt), or None."""
    raw: Any = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if not raw:
        return None
    return raw if isinstance(raw, bytes) else str(raw).encode("utf-8")


@dataclass(frozen=True)
class XmpLabels:
    digital_source_type: str | None = None
    tc260: Tc260Label | None = None
    tc260_error: str | None = None  # a TC260:AIGC property was there but malformed


def xmp_labels(packet: bytes | str) -> XmpLabels:
    """The AI labels an XMP packet carries: the IPTC digital source type and the TC260 implicit label."""
    properties = xmp_properties(packet)
    source_type = properties.get(_qualified(IPTC_EXT_NAMESPACE, "DigitalSourceType"))
    raw = properties.get(_qualified(TC260_NAMESPACE, TC260_PROPERTY))
    if raw is None:
        return XmpLabels(digital_source_type=source_type)
    try:
        return XmpLabels(digital_source_type=source_type, tc260=Tc260Label.from_json(raw))
    except XmpError as exc:
        return XmpLabels(digital_source_type=source_type, tc260_error=str(exc))
