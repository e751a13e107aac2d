"""China's implicit label (TC260:AIGC) and the XMP reader."""

from __future__ import annotations

import io
import json
from xml.sax.saxutils import quoteattr

import pytest
from defusedxml import EntitiesForbidden
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from provenance.labeling import IPTC_TRAINED_ALGORITHMIC_MEDIA, xmp_packet
from provenance.marks.xmp import (
    TC260_FIELDS,
    TC260_NAMESPACE,
    Tc260Label,
    XmpError,
    tc260_element,
    tc260_xmlns,
    xmp_labels,
    xmp_packet_from_image,
    xmp_properties,
)

LABEL = Tc260Label(content_producer="001191440300MA5FYBFG1P00001", produce_id="4711", reserved_code1='a&b<c>"')


def packet_with(label: Tc260Label) -> bytes:
    """Our XMP packet with the TC260 property added to its rdf:Description, as the export writes it."""
    packet = xmp_packet(base_model="sdxl").decode()
    packet = packet.replace(
        'xmlns:dc="http://purl.org/dc/elements/1.1/"',
        f'xmlns:dc="http://purl.org/dc/elements/1.1/"\n    {tc260_xmlns()}',
    )
    packet = packet.replace("</rdf:Description>", f"{tc260_element(label)}\n  </rdf:Description>")
    return packet.encode()


def test_label_json_has_every_field_as_strings():
    value = json.loads(LABEL.as_json())
    assert list(value) == list(TC260_FIELDS)
    assert value["Label"] == "1" and value["ContentProducer"] == "001191440300MA5FYBFG1P00001"
    assert value["ProduceID"] == "4711" and value["ContentPropagator"] == "" and value["PropagateID"] == ""
    assert all(isinstance(v, str) for v in value.values())
    assert Tc260Label.from_json(LABEL.as_json()) == LABEL


def test_packet_round_trips_through_the_xml_parser_beside_the_iptc_source_type():
    labels = xmp_labels(packet_with(LABEL))
    assert labels.digital_source_type == IPTC_TRAINED_ALGORITHMIC_MEDIA
    assert labels.tc260 == LABEL and labels.tc260_error is None
    props = xmp_properties(packet_with(LABEL))
    assert json.loads(props[f"{{{TC260_NAMESPACE}}}AIGC"])["ReservedCode1"] == 'a&b<c>"'


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_label_survives_into_image_files(fmt):
    packet = packet_with(LABEL)
    buf = io.BytesIO()
    image = Image.new("RGB", (32, 32), "grey")
    if fmt == "JPEG":
        image.save(buf, "JPEG", xmp=packet)
    else:
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", packet.decode())
        image.save(buf, "PNG", pnginfo=info)
    with Image.open(io.BytesIO(buf.getvalue())) as opened:
        assert xmp_labels(xmp_packet_from_image(opened)).tc260 == LABEL


def test_attribute_form_is_read_too():
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" {tc260_xmlns()} TC260:AIGC={quoteattr(LABEL.as_json())}/></rdf:RDF></x:xmpmeta>'
    )
    assert xmp_labels(packet).tc260 == LABEL


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"Label": "1"}', "lacks ContentProducer"),
        (json.dumps({**LABEL.as_dict(), "ProduceID": 4711}), "must be strings: ProduceID"),
        (json.dumps({**LABEL.as_dict(), "Label": "yes"}), "Label"),
    ],
)
def test_malformed_values_are_reported(value, message):
    with pytest.raises(XmpError, match=message):
        Tc260Label.from_json(value)
    packet = (
        packet_with(LABEL)
        .decode()
        .replace(tc260_element(LABEL), f"<TC260:AIGC>{value.replace('&', '&amp;').replace('<', '&lt;')}</TC260:AIGC>")
    )
    labels = xmp_labels(packet)
    assert labels.tc260 is None and message.split(":")[0] in labels.tc260_error


def test_hostile_packets_are_refused():
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'>&b;</x:xmpmeta>"
    )
    with pytest.raises(XmpError) as excinfo:
        xmp_properties(bomb)
    assert isinstance(excinfo.value.__cause__, EntitiesForbidden)
    with pytest.raises(XmpError, match="not well-formed"):
        xmp_properties(b"<x:xmpmeta")
    with pytest.raises(XmpError, match="larger than"):
        xmp_properties(b" " * (1024 * 1024 + 1))
    assert xmp_labels(xmp_packet()).tc260 is None
