"""Canned answers of WFS servers that cannot run here (ArcGIS Server, GeoServer, QGIS Server) and GML
documents as servers write them, for test_wfs.py: the answers are data, the tests say what they prove.

An answer function takes the request's parameters (names upper-cased) and returns (status, content
type, body).
"""

from __future__ import annotations

import json

# (ident, place, lon, lat) — town centres around Wallonia
PLACES = [
    ("D01", "Namur", 4.8719, 50.4674),
    ("D02", "Liège", 5.5797, 50.6326),
    ("D03", "Charleroi", 4.4444, 50.4108),
    ("D04", "Mons", 3.9523, 50.4542),
    ("D05", "Tournai", 3.3878, 50.6056),
    ("D06", "Arlon", 5.8167, 49.6833),
    ("D07", "Wavre", 4.6075, 50.7172),
    ("D08", "Verviers", 5.8622, 50.5891),
    ("D09", "Dinant", 4.9122, 50.2606),
    ("D10", "Bastogne", 5.7153, 50.0036),
    ("D11", "Marche-en-Famenne", 5.3450, 50.2267),
    ("D12", "Huy", 5.2394, 50.5186),
    ("D13", "Nivelles", 4.3244, 50.5983),
    ("D14", "Ath", 3.7786, 50.6292),
    ("D15", "Mouscron", 3.2061, 50.7436),
    ("D16", "Eupen", 6.0361, 50.6283),
    ("D17", "Spa", 5.8667, 50.4922),
    ("D18", "Malmedy", 6.0278, 50.4261),
    ("D19", "Ciney", 5.0964, 50.2939),
    ("D20", "Gembloux", 4.6911, 50.5614),
    ("D21", "Waterloo", 4.3986, 50.7147),
    ("D22", "Ottignies-Louvain-la-Neuve", 4.6144, 50.6681),
    ("D23", "Binche", 4.1656, 50.4114),
    ("D24", "Philippeville", 4.5436, 50.1961),
    ("D25", "Bouillon", 5.0678, 49.7939),
    ("D26", "Virton", 5.5322, 49.5678),
    ("D27", "La Louvière", 4.1878, 50.4797),
]


def to_lambert(lon: float, lat: float) -> tuple[float, float]:
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:31370", always_xy=True).transform(lon, lat)
    return round(x, 2), round(y, 2)


NAMUR = to_lambert(4.8719, 50.4674)

VERSION_REQUIRED = b"""<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1">
<ows:Exception exceptionCode="MissingParameterValue">
<ows:ExceptionText>VERSION is mandatory</ows:ExceptionText>
</ows:Exception></ows:ExceptionReport>"""


def page_range(params: dict[str, str], total: int) -> range:
    """Features asked for by a GetFeature (STARTINDEX and COUNT/MAXFEATURES), among `total`."""
    start = int(params.get("STARTINDEX", 0))
    count = int(params.get("COUNT") or params.get("MAXFEATURES") or total)
    return range(start, min(start + count, total))


# ArcGIS Server 11 (Géoportail de Wallonie): its own format tokens, the internal host name in the
# operation URLs, numbers written as text with eight decimals, geometry in SHAPE, numberMatched unknown.
ARCGIS_HOST = "https://gis-internal.spw.local:6443/arcgis/services/DEA/MapServer/WFSServer"
ARCGIS_CAPABILITIES = f"""<?xml version="1.0" encoding="UTF-8"?>
<wfs:WFS_Capabilities version="2.0.0" xmlns:wfs="http://www.opengis.net/wfs/2.0"
 xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:xlink="http://www.w3.org/1999/xlink"
 xmlns:fes="http://www.opengis.net/fes/2.0">
 <ows:OperationsMetadata>
  <ows:Operation name="GetCapabilities"><ows:DCP><ows:HTTP><ows:Get xlink:href="{ARCGIS_HOST}?"/>
  </ows:HTTP></ows:DCP></ows:Operation>
  <ows:Operation name="DescribeFeatureType"><ows:DCP><ows:HTTP><ows:Get xlink:href="{ARCGIS_HOST}?"/>
  </ows:HTTP></ows:DCP></ows:Operation>
  <ows:Operation name="GetFeature"><ows:DCP><ows:HTTP><ows:Get xlink:href="{ARCGIS_HOST}?"/>
   <ows:Post xlink:href="{ARCGIS_HOST}"/></ows:HTTP></ows:DCP>
   <ows:Parameter name="outputFormat"><ows:AllowedValues><ows:Value>GML32</ows:Value>
   <ows:Value>GML3</ows:Value><ows:Value>GEOJSON</ows:Value></ows:AllowedValues></ows:Parameter>
  </ows:Operation>
  <ows:Constraint name="ImplementsResultPaging"><ows:NoValues/><ows:DefaultValue>TRUE</ows:DefaultValue>
  </ows:Constraint>
 </ows:OperationsMetadata>
 <wfs:FeatureTypeList><wfs:FeatureType><wfs:Name>DEA:Defibrillateurs</wfs:Name>
  <wfs:Title>Defibrillateurs</wfs:Title><wfs:DefaultCRS>urn:ogc:def:crs:EPSG::31370</wfs:DefaultCRS>
  <wfs:OtherCRS>urn:ogc:def:crs:EPSG::4326</wfs:OtherCRS></wfs:FeatureType></wfs:FeatureTypeList>
 <fes:Filter_Capabilities><fes:Conformance>
  <fes:Constraint name="ImplementsSorting"><ows:NoValues/><ows:DefaultValue>TRUE</ows:DefaultValue>
  </fes:Constraint>
 </fes:Conformance></fes:Filter_Capabilities>
</wfs:WFS_Capabilities>""".encode()
ARCGIS_SCHEMA = b"""<?xml version="1.0" encoding="UTF-8"?>
<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:gml="http://www.opengis.net/gml/3.2"
 xmlns:DEA="https://geoservices.wallonie.be/DEA" targetNamespace="https://geoservices.wallonie.be/DEA"
 elementFormDefault="qualified">
 <xsd:import namespace="http://www.opengis.net/gml/3.2"
  schemaLocation="http://schemas.opengis.net/gml/3.2.1/gml.xsd"/>
 <xsd:element name="Defibrillateurs" type="DEA:DefibrillateursFeatureType"
  substitutionGroup="gml:AbstractFeature"/>
 <xsd:complexType name="DefibrillateursFeatureType"><xsd:complexContent>
  <xsd:extension base="gml:AbstractFeatureType"><xsd:sequence>
   <xsd:element minOccurs="0" maxOccurs="1" name="OBJECTID" type="xsd:int"/>
   <xsd:element minOccurs="0" maxOccurs="1" name="CODE_INS" nillable="true">
    <xsd:simpleType><xsd:restriction base="xsd:string"><xsd:maxLength value="5"/></xsd:restriction>
    </xsd:simpleType>
   </xsd:element>
   <xsd:element minOccurs="0" maxOccurs="1" name="HAUTEUR" nillable="true" type="xsd:double"/>
   <xsd:element minOccurs="0" maxOccurs="1" name="PUBLIC" nillable="true" type="xsd:boolean"/>
   <xsd:element minOccurs="0" maxOccurs="1" name="DATE_MAJ" nillable="true" type="xsd:dateTime"/>
   <xsd:element minOccurs="0" maxOccurs="1" name="SHAPE" nillable="true" type="gml:PointPropertyType"/>
  </xsd:sequence></xsd:extension></xsd:complexContent></xsd:complexType>
</xsd:schema>"""
ARCGIS_TOTAL = 12


def arcgis_feature(i: int) -> str:
    x, y = to_lambert(4.8 + i * 0.01, 50.4)
    hauteur = "" if i == 3 else f"<DEA:HAUTEUR>{1100 + i / 4:.8f}</DEA:HAUTEUR>"  # one HAUTEUR left out
    return f"""<wfs:member><DEA:Defibrillateurs gml:id="Defibrillateurs.{i + 1}">
 <DEA:OBJECTID>{i + 1}</DEA:OBJECTID><DEA:CODE_INS>0{i:04d}</DEA:CODE_INS>{hauteur}
 <DEA:PUBLIC>{"true" if i % 2 else "false"}</DEA:PUBLIC>
 <DEA:DATE_MAJ>2024-03-{i + 1:02d}T08:00:00</DEA:DATE_MAJ>
 <DEA:SHAPE><gml:Point gml:id="Defibrillateurs.{i + 1}.pn.0" srsName="urn:ogc:def:crs:EPSG::31370">
 <gml:pos>{x:.8f} {y:.8f}</gml:pos></gml:Point></DEA:SHAPE></DEA:Defibrillateurs></wfs:member>"""


def arcgis(params: dict[str, str], schema: bytes = ARCGIS_SCHEMA) -> tuple[int, str, bytes]:
    request = params.get("REQUEST", "").lower()
    if request == "getcapabilities":
        return 200, "text/xml", ARCGIS_CAPABILITIES
    if request == "describefeaturetype":
        return 200, "text/xml", schema
    if params.get("RESULTTYPE", "").lower() == "hits":  # counts nothing either
        body = """<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs/2.0" numberMatched="unknown"
 numberReturned="0"/>"""
        return 200, "text/xml; subtype=gml/3.2", body.encode()
    if params.get("OUTPUTFORMAT") == "GML32":
        rows = page_range(params, ARCGIS_TOTAL)
        members = "".join(arcgis_feature(i) for i in rows)
        body = f"""<?xml version="1.0" encoding="UTF-8"?>
<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs/2.0" xmlns:gml="http://www.opengis.net/gml/3.2"
 xmlns:DEA="https://geoservices.wallonie.be/DEA" numberMatched="unknown" numberReturned="{len(rows)}">
{members}</wfs:FeatureCollection>"""
        return 200, "text/xml; subtype=gml/3.2", body.encode()
    return 400, "text/xml", VERSION_REQUIRED.replace(b"VERSION is mandatory", b"unsupported request")


# GeoServer 2.x: GeoJSON features carry ids and numberMatched is given; in GML 3.2 with a URN
# EPSG:4326 srsName the positions are lat,lon.
GEOSERVER_CAPABILITIES = b"""<?xml version="1.0" encoding="UTF-8"?>
<wfs:WFS_Capabilities version="2.0.0" xmlns:wfs="http://www.opengis.net/wfs/2.0"
 xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:xlink="http://www.w3.org/1999/xlink">
 <ows:OperationsMetadata>
  <ows:Operation name="GetFeature"><ows:DCP><ows:HTTP>
  <ows:Get xlink:href="http://geoserver:8080/geoserver/ows"/></ows:HTTP></ows:DCP>
  <ows:Parameter name="outputFormat"><ows:AllowedValues>
   <ows:Value>application/gml+xml; version=3.2</ows:Value><ows:Value>text/xml; subtype=gml/3.1.1</ows:Value>
   <ows:Value>text/xml; subtype=gml/2.1.2</ows:Value><ows:Value>application/json</ows:Value>
   <ows:Value>json</ows:Value><ows:Value>SHAPE-ZIP</ows:Value></ows:AllowedValues></ows:Parameter>
  </ows:Operation>
  <ows:Constraint name="ImplementsResultPaging"><ows:NoValues/><ows:DefaultValue>TRUE</ows:DefaultValue>
  </ows:Constraint>
 </ows:OperationsMetadata>
 <FeatureTypeList xmlns="http://www.opengis.net/wfs/2.0"><FeatureType xmlns:namur="https://namur.be">
  <Name>namur:dea</Name><Title>dea</Title><DefaultCRS>urn:ogc:def:crs:EPSG::31370</DefaultCRS>
  <OtherCRS>urn:ogc:def:crs:EPSG::4326</OtherCRS></FeatureType></FeatureTypeList>
</wfs:WFS_Capabilities>"""
GEOSERVER_SCHEMA = b"""<?xml version="1.0" encoding="UTF-8"?>
<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:gml="http://www.opengis.net/gml/3.2"
 xmlns:namur="https://namur.be" elementFormDefault="qualified" targetNamespace="https://namur.be">
 <xsd:complexType name="deaType"><xsd:complexContent><xsd:extension base="gml:AbstractFeatureType">
  <xsd:sequence>
   <xsd:element maxOccurs="1" minOccurs="0" name="geom" nillable="true" type="gml:PointPropertyType"/>
   <xsd:element maxOccurs="1" minOccurs="0" name="ident" nillable="true" type="xsd:string"/>
   <xsd:element maxOccurs="1" minOccurs="0" name="n" nillable="true" type="xsd:int"/>
  </xsd:sequence></xsd:extension></xsd:complexContent></xsd:complexType>
 <xsd:element name="dea" substitutionGroup="gml:AbstractFeature" type="namur:deaType"/>
</xsd:schema>"""


def geoserver(params: dict[str, str]) -> tuple[int, str, bytes]:
    request = params.get("REQUEST", "").lower()
    if request == "getcapabilities":
        return 200, "application/xml", GEOSERVER_CAPABILITIES
    if request == "describefeaturetype":
        return 200, "application/xml", GEOSERVER_SCHEMA
    rows = page_range(params, len(PLACES))
    if params.get("OUTPUTFORMAT") == "application/json":
        features = [
            {
                "type": "Feature",
                "id": f"dea.{i + 1}",
                "geometry_name": "geom",
                "geometry": {"type": "Point", "coordinates": list(to_lambert(*PLACES[i][2:]))},
                "properties": {"ident": PLACES[i][0], "n": i},
            }
            for i in rows
        ]
        crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::31370"}}
        body = {
            "type": "FeatureCollection",
            "features": features,
            "totalFeatures": len(PLACES),
            "numberMatched": len(PLACES),
            "numberReturned": len(features),
            "crs": crs,
        }
        return 200, "application/json", json.dumps(body).encode()
    assert params["SRSNAME"] == "urn:ogc:def:crs:EPSG::4326"  # the test asks for lat,lon in URN form
    members = "".join(
        f"""<wfs:member><namur:dea gml:id="dea.{i + 1}"><namur:geom><gml:Point gml:id="p{i}"
 srsName="urn:ogc:def:crs:EPSG::4326" srsDimension="2"><gml:pos>{PLACES[i][3]} {PLACES[i][2]}</gml:pos>
 </gml:Point></namur:geom><namur:ident>{PLACES[i][0]}</namur:ident><namur:n>{i}</namur:n></namur:dea>
 </wfs:member>"""
        for i in rows
    )
    gml = f"""<?xml version="1.0" encoding="UTF-8"?><wfs:FeatureCollection
 xmlns:wfs="http://www.opengis.net/wfs/2.0" xmlns:gml="http://www.opengis.net/gml/3.2"
 xmlns:namur="https://namur.be"
 numberMatched="{len(PLACES)}" numberReturned="{len(rows)}">{members}</wfs:FeatureCollection>"""
    return 200, "application/gml+xml; version=3.2", gml.encode()


# QGIS Server 3.x: WFS 1.0 and 1.1 only (it answers 1.1.0 capabilities whatever is asked), GML 3.1.1
# with 3D positions (srsDimension="3") for layers with Z, srsName written "EPSG:31370".
QGIS_CAPABILITIES = b"""<?xml version="1.0" encoding="utf-8"?>
<WFS_Capabilities xmlns="http://www.opengis.net/wfs" xmlns:ows="http://www.opengis.net/ows"
 xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:ogc="http://www.opengis.net/ogc" version="1.1.0">
 <ows:OperationsMetadata><ows:Operation name="GetFeature"><ows:DCP><ows:HTTP>
  <ows:Get xlink:href="http://qgis.local/cgi-bin/qgis_mapserv.fcgi?MAP=/srv/projets/voirie.qgs&amp;"/>
  </ows:HTTP></ows:DCP><ows:Parameter name="outputFormat">
  <ows:Value>text/xml; subtype=gml/2.1.2</ows:Value><ows:Value>text/xml; subtype=gml/3.1.1</ows:Value>
  </ows:Parameter></ows:Operation></ows:OperationsMetadata>
 <FeatureTypeList><FeatureType><Name>troncons</Name><Title>troncons</Title>
 <DefaultSRS>EPSG:31370</DefaultSRS></FeatureType></FeatureTypeList>
</WFS_Capabilities>"""
QGIS_SCHEMA = b"""<schema xmlns="http://www.w3.org/2001/XMLSchema" xmlns:gml="http://www.opengis.net/gml"
 xmlns:qgs="http://www.qgis.org/gml" targetNamespace="http://www.qgis.org/gml" elementFormDefault="qualified">
 <import namespace="http://www.opengis.net/gml"
  schemaLocation="http://schemas.opengis.net/gml/3.1.1/base/gml.xsd"/>
 <element type="qgs:tronconsType" substitutionGroup="gml:_Feature" name="troncons"/>
 <complexType name="tronconsType"><complexContent><extension base="gml:AbstractFeatureType"><sequence>
  <element minOccurs="0" maxOccurs="1" type="gml:MultiLineStringPropertyType" name="geometry"/>
  <element type="long" name="fid"/><element nillable="true" type="string" name="rue"/>
  <element nillable="true" type="double" name="longueur"/>
 </sequence></extension></complexContent></complexType>
</schema>"""
QGIS_TOTAL = 13


def qgis(params: dict[str, str]) -> tuple[int, str, bytes]:
    request = params.get("REQUEST", "").lower()
    assert params.get("MAP") == "/srv/projets/voirie.qgs"  # the project parameter stays on every call
    if request == "getcapabilities":
        return 200, "text/xml; charset=utf-8", QGIS_CAPABILITIES
    if request == "describefeaturetype":
        return 200, "text/xml; charset=utf-8", QGIS_SCHEMA
    assert params["VERSION"] == "1.1.0" and "COUNT" not in params
    members = []
    for i in page_range(params, QGIS_TOTAL):
        x, y = NAMUR[0] + 100 * i, NAMUR[1]
        members.append(f"""<gml:featureMember><qgs:troncons gml:id="troncons.{i}"><qgs:geometry>
 <gml:LineString srsName="EPSG:31370"><gml:posList srsDimension="3">{x} {y} 101.5 {x + 50} {y + 25} 102
 </gml:posList></gml:LineString></qgs:geometry><qgs:fid>{i}</qgs:fid><qgs:rue>Rue {i}</qgs:rue>
 <qgs:longueur>{55.9 + i}</qgs:longueur></qgs:troncons></gml:featureMember>""")
    body = f"""<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs"
 xmlns:gml="http://www.opengis.net/gml" xmlns:qgs="http://www.qgis.org/gml">{"".join(members)}
</wfs:FeatureCollection>"""
    return 200, "text/xml; subtype=gml/3.1.1; charset=utf-8", body.encode()


# GML 3.2 as GeoServer and ArcGIS write it: a MultiCurve of segments, a Surface with a 3D ring, a nil
# value and a date in gml:timePosition.
GML32_CURVE_AND_SURFACE = b"""<?xml version="1.0"?>
<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs/2.0" xmlns:gml="http://www.opengis.net/gml/3.2"
    xmlns:x="urn:x" numberMatched="2" numberReturned="2">
 <wfs:member><x:t gml:id="t.1"><x:nom>A</x:nom><x:vide xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
   xsi:nil="true"/><x:maj><gml:TimeInstant gml:id="t.1.maj"><gml:timePosition>2024-03-15T10:20:30Z
   </gml:timePosition></gml:TimeInstant></x:maj>
   <x:SHAPE><gml:MultiCurve srsName="urn:ogc:def:crs:EPSG::4326"><gml:curveMember><gml:Curve>
   <gml:segments><gml:LineStringSegment><gml:posList>50.1 4.1 50.2 4.2</gml:posList></gml:LineStringSegment>
   <gml:LineStringSegment><gml:posList>50.2 4.2 50.3 4.3</gml:posList></gml:LineStringSegment></gml:segments>
   </gml:Curve></gml:curveMember></gml:MultiCurve></x:SHAPE></x:t></wfs:member>
 <wfs:member><x:t gml:id="t.2"><x:nom>B</x:nom><x:SHAPE><gml:Surface srsName="urn:ogc:def:crs:EPSG::4326">
   <gml:patches><gml:PolygonPatch><gml:exterior><gml:LinearRing><gml:posList srsDimension="3">
   50 4 0 50 5 0 51 5 0 50 4 0</gml:posList></gml:LinearRing></gml:exterior></gml:PolygonPatch></gml:patches>
   </gml:Surface></x:SHAPE></x:t></wfs:member>
</wfs:FeatureCollection>"""


# GML 2: a MultiPoint in gml:coordinates and gml:coord, srsName in the epsg.xml# form.
GML2_MULTIPOINT = b"""<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs"
    xmlns:gml="http://www.opengis.net/gml" xmlns:x="urn:x"><gml:featureMember><x:t fid="t.9"><x:geom>
    <gml:MultiPoint srsName="http://www.opengis.net/gml/srs/epsg.xml#4326"><gml:pointMember><gml:Point>
    <gml:coordinates>4.5,50.5 </gml:coordinates></gml:Point></gml:pointMember><gml:pointMember><gml:Point>
    <gml:coord><gml:X>4.6</gml:X><gml:Y>50.6</gml:Y></gml:coord></gml:Point></gml:pointMember>
    </gml:MultiPoint></x:geom></x:t></gml:featureMember></wfs:FeatureCollection>"""


# GML 3: vertices as gml:pos elements (deegree, GeoServer) and 3D positions (QGIS Server on PostGIS Z).
GML3_POS_AND_3D = b"""<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs/2.0"
    xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:x="urn:x">
 <wfs:member><x:t gml:id="t.1"><x:g><gml:LineString srsName="urn:ogc:def:crs:EPSG::4326">
   <gml:pos>50.1 4.1</gml:pos><gml:pos>50.2 4.2</gml:pos><gml:pos>50.3 4.3</gml:pos></gml:LineString></x:g>
   </x:t>
 </wfs:member>
 <wfs:member><x:t gml:id="t.2"><x:g><gml:Point srsName="urn:ogc:def:crs:EPSG::4326" srsDimension="3">
   <gml:pos>50.5 4.5 120.0</gml:pos></gml:Point></x:g></x:t></wfs:member>
 <wfs:member><x:t gml:id="t.3"><x:g><gml:LineString srsName="urn:ogc:def:crs:EPSG::4326">
   <gml:posList srsDimension="3">50.6 4.6 1 50.7 4.7 2</gml:posList></gml:LineString></x:g></x:t></wfs:member>
</wfs:FeatureCollection>"""


# A GML geometry GeoJSON cannot hold.
GML_SOLID = b"""<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs/2.0"
    xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:x="urn:x"><wfs:member><x:t gml:id="t.1"><x:forme>
    <gml:Solid srsName="urn:ogc:def:crs:EPSG::31370"/></x:forme></x:t></wfs:member></wfs:FeatureCollection>"""


# Entity expansion: refused, not expanded.
XML_ENTITY_BOMB = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>
<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs"><x>&b;</x></wfs:FeatureCollection>"""
