"""Paging through a feature type with COUNT/MAXFEATURES + STARTINDEX until a short page.

A server cap that is not declared is detected from the first page; a feature id seen twice stops the
harvest (paging that is not stable would silently lose rows); the next page is asked for while the
current one is read (still one request at a time).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import pandas as pd

from omv_pipelines.sources.base import GEOMETRY, SourceError
from omv_pipelines.sources.wfs.client import Client, Refused
from omv_pipelines.sources.wfs.config import WfsSource
from omv_pipelines.sources.wfs.geometry import Geometries
from omv_pipelines.sources.wfs.parsing import Page, parse_geojson, parse_gml

log = logging.getLogger(__name__)


def getfeature_params(version: str, typename: str, fmt: str | None, srs: str | None) -> dict[str, Any]:
    """GetFeature parameters, without the paging ones."""
    params = {"SERVICE": "WFS", "VERSION": version, "REQUEST": "GetFeature"}
    params["TYPENAMES" if version == "2.0.0" else "TYPENAME"] = typename
    if srs and version != "1.0.0":
        params["SRSNAME"] = srs
    if fmt:
        params["OUTPUTFORMAT"] = fmt
    return params


class Pager:
    """The pages of one feature type, in `sort_by` order when given and more than one page may come."""

    def __init__(
        self,
        client: Client,
        config: WfsSource,
        version: str,
        typename: str,
        fmt: str | None,
        srs: str | None,
        cap: int | None,
        sort_by: str | None,
        stats: dict[str, Any],
    ):
        self.client, self.config, self.version, self.typename = client, config, version, typename
        self.fmt, self.stats = fmt, stats
        self.page_size = min(config.page_size, cap) if cap else config.page_size
        self.cap_known = cap is not None
        self.params = getfeature_params(version, typename, fmt, srs)
        if sort_by and (config.max_features is None or config.max_features > self.page_size):
            self.params["SORTBY"] = f"{sort_by} ASC"
            stats["sorted_by"] = sort_by
        self.sort_by = sort_by
        self.default_crs = srs or "EPSG:4326"  # the CRS of the answer is named in it; this is the last resort
        self.seen: set[Any] = set()
        self.ids_are_positions = False  # missing or repeated ids: rows are numbered instead
        # Requests go out from one thread, one at a time; but the next page is asked for as soon as this
        # one is known to be full (before its features are read), so the server prepares it meanwhile.
        self.ahead: dict[tuple[int, int], Future[bytes]] = {}
        self.pool: ThreadPoolExecutor | None = None

    def run(self) -> tuple[list[pd.DataFrame], list[Any], int]:
        """The pages as frames, the features' ids, and how many have a vertex outside Wallonia."""
        frames: list[pd.DataFrame] = []
        all_ids: list[Any] = []
        outside = start = pages = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wfs-pages") as self.pool:
            while (want := self._wanted(start)) > 0:
                content = self._content(start, want, first=pages == 0)
                if content is None:  # the server refused our SORTBY: ask again, unsorted
                    continue
                pages += 1
                page, geo_text, outside_rows = self._read(content, start, want)
                n = len(page.records)
                if n == 0:
                    break
                self._identify(page, start, first=pages == 1)
                for (row, column), text in geo_text.items():
                    page.records[row][column] = text
                frames.append(pd.DataFrame.from_records(page.records))
                all_ids += page.ids
                outside += len(outside_rows)
                start += n
                if n >= want:
                    continue
                # A short first page is the end, or an undeclared server cap: keep paging at that size.
                matched = page.number_matched
                if pages == 1 and not self.cap_known and (matched is None or start < matched):
                    self.page_size, self.cap_known = n, True
                    self.stats["page_cap"] = n
                    continue
                break
        if pages > 1 and "page_cap" in self.stats and start == self.stats["page_cap"]:
            del self.stats["page_cap"]  # the "cap" was just the number of features
        self.stats.update(pages=pages, output_format=self.fmt or "(server default GML)")
        if self.ids_are_positions:
            self.stats["feature_ids"] = "position"
            source_id = self.client.source_id
            log.warning("%s: features carry no (unique) ids; _source_row holds their position", source_id)
        return frames, all_ids, outside

    def _wanted(self, start: int) -> int:
        max_features = self.config.max_features
        return self.page_size if max_features is None else min(self.page_size, max_features - start)

    def _fetch(self, start: int, want: int) -> bytes:
        params = dict(self.params, STARTINDEX=start)
        params["COUNT" if self.version == "2.0.0" else "MAXFEATURES"] = want
        return self.client.get(params, f"GetFeature {self.typename} from {start}")

    def _ask_ahead(self, start: int, want: int, n: int) -> None:
        """Called with the number of features of the page being read: a full page means another one."""
        following = self._wanted(start + n)
        if n >= want and following > 0 and self.pool is not None:
            self.ahead[(start + n, following)] = self.pool.submit(self._fetch, start + n, following)

    def _content(self, start: int, want: int, first: bool) -> bytes | None:
        """The answer for this page (asked ahead, or now); None when SORTBY was refused and dropped."""
        assert self.pool is not None
        try:
            asked = self.ahead.pop((start, want), None) or self.pool.submit(self._fetch, start, want)
            content = asked.result()
        except Refused as refused:
            if not first or "SORTBY" not in self.params:
                raise
            source_id = self.client.source_id
            if not self.config.sort_by:  # the order was our idea (feature_id): page in the server's own
                log.warning("%s: the WFS refused SORTBY (%s): paging unsorted", source_id, refused.reason)
                del self.params["SORTBY"], self.stats["sorted_by"]
                return None
            raise SourceError(
                source_id,
                f"the WFS at {self.client.safe} refused to sort {self.typename} by {self.sort_by!r}: "
                f"{refused.reason}",
                "check that sort_by names an attribute of the feature type (some server backends "
                "cannot sort although the service says it can), or leave sort_by empty",
            ) from None
        self.ahead.clear()
        return content

    def _read(self, content: bytes, start: int, want: int) -> tuple[Page, dict[tuple[int, str], str], Any]:
        """The page's features, their geometries as WGS84 GeoJSON text, the rows outside Wallonia."""
        geoms = Geometries()
        try:
            is_json = content.lstrip()[:1] in (b"{", b"[")
            parse = parse_geojson if is_json else parse_gml
            page = parse(content, geoms, self.default_crs, partial(self._ask_ahead, start, want))
            xy_order = is_json or self.version == "1.0.0"
            geo_text, outside_rows = geoms.to_geojson(xy_order=xy_order, source_id=self.client.source_id)
        except SourceError:
            raise
        except Exception as err:
            raise SourceError(
                self.client.source_id,
                f"cannot read the GetFeature answer of {self.client.safe} ({self.typename}, from {start}): "
                f"{type(err).__name__}: {err}",
                "try another output_format, or report the server's answer to its administrator",
            ) from None
        return page, geo_text, outside_rows

    def _identify(self, page: Page, start: int, first: bool) -> None:
        """Give the page's features their ids, and stop when one was already seen (unstable paging)."""
        source_id, n = self.client.source_id, len(page.records)
        if self.config.feature_id and any(i is None for i in page.ids):
            page.ids = _attribute_ids(page, self.config.feature_id, self.typename, source_id)
        ids = pd.Series(page.ids, dtype=object)
        if first and (ids.isna().any() or ids.duplicated().any()):
            self.ids_are_positions = True  # missing or repeated ids cannot identify rows
        if self.ids_are_positions:
            page.ids = list(range(start, start + n))
            return
        again = self.seen.intersection(page.ids) | set(ids[ids.duplicated()])
        if again:
            if len(self.seen.intersection(page.ids)) == n:
                problem = f"ignores STARTINDEX (the page from {start} repeats features already read)"
            else:
                example = sorted(map(str, again))[0]
                problem = f"returned {len(again)} feature id(s) twice (e.g. {example!r})"
            raise SourceError(
                source_id,
                f"the WFS at {self.client.safe} {problem} while paging {self.typename}",
                "paging is not reliable on this server: set page_size above the number of features, "
                "or ask the administrator for a stable order and unique feature ids",
            )
        self.seen.update(page.ids)


def _attribute_ids(page: Page, name: str, typename: str, source_id: str) -> list[Any]:
    """The `feature_id` attribute of the page's features, as their ids."""
    if name not in page.records[0]:
        attributes = ", ".join(k for k in page.records[0] if k != GEOMETRY)
        raise SourceError(
            source_id, f"feature_id {name!r} is not an attribute of {typename}", f"use one of: {attributes}"
        )
    return [record.get(name) for record in page.records]
